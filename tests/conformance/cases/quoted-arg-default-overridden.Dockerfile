# ARG X=${X:+"unsupported"} with X given as a build arg: the build arg wins over the default.
ARG X=${X:+"unsupported"}
ARG FLAVOR="qo-plain"
FROM stagecache/busybox:latest AS qo-three
RUN echo quoted-arg-default-overridden-three-1 > /f1
FROM stagecache/busybox:latest AS qo-1
RUN echo quoted-arg-default-overridden-qo-1-1 > /f1
FROM stagecache/busybox:latest AS qo-plain
RUN echo quoted-arg-default-overridden-plain-1 > /f1
FROM stagecache/busybox:latest AS qo-spicy
RUN echo quoted-arg-default-overridden-spicy-1 > /f1
FROM qo-${X:-three} AS f-alt
RUN echo quoted-arg-default-overridden-f-alt-1 > /f2
FROM ${FLAVOR} AS f-flavor
RUN echo quoted-arg-default-overridden-f-flavor-1 > /f2
