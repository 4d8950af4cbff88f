# WORKDIR / makes no step (BuildKit skips it), relative WORKDIRs and existing directories do;
# ENV, LABEL, USER, EXPOSE, CMD make no step.
FROM stagecache/busybox:latest AS app
WORKDIR /
RUN echo workdir-root-and-relative-app-1 > f1
WORKDIR workdir-root-and-relative-rel
WORKDIR sub
RUN echo workdir-root-and-relative-app-2 > f2
WORKDIR /workdir-root-and-relative-abs
WORKDIR /tmp
ENV WORKDIR_ROOT_AND_RELATIVE=1
LABEL workdir-root-and-relative=1
USER root
EXPOSE 8080
CMD ["sh"]
FROM stagecache/busybox:latest AS root-only
WORKDIR /
RUN echo workdir-root-and-relative-root-only-1 > /f
