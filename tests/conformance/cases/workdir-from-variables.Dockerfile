# WORKDIR makes a vertex unless it resolves to "/": its path is expanded with the stage's ARG
# and ENV values (the last ENV wins), and an absolute path is taken as written (not cleaned).
FROM stagecache/busybox:latest AS app
ARG APP_HOME=/workdir-from-variables-app
WORKDIR $APP_HOME
RUN echo workdir-from-variables-app-1 > f
FROM stagecache/busybox:latest AS two
ENV D=/workdir-from-variables-two
ENV D=/
WORKDIR $D
RUN echo workdir-from-variables-two-1 > /f
FROM stagecache/busybox:latest AS three
ARG HOME_D=/workdir-from-variables-h
WORKDIR ${HOME_D}/..
RUN echo workdir-from-variables-three-1 > f
FROM app AS inherits
WORKDIR .
RUN echo workdir-from-variables-inherits-1 > g
