# A build arg overrides the default of a global ARG used in FROM (--build-arg FLAVOR=pick-b).
ARG FLAVOR=pick-a
FROM stagecache/busybox:latest AS pick-a
RUN echo build-arg-override-pick-a-1 > /f1
FROM stagecache/busybox:latest AS pick-b
RUN echo build-arg-override-pick-b-1 > /f1
FROM ${FLAVOR} AS final
ARG FLAVOR
RUN echo build-arg-override-final-1 > /f2
