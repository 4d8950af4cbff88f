# Quoted ARG defaults: the quotes are not part of the value. X=${X:+"unsupported"} is empty
# unless X is given as a build arg.
ARG V="quoted-arg-defaults-one"
ARG S='quoted-arg-defaults-two'
ARG X=${X:+"unsupported"}
FROM stagecache/busybox:latest AS quoted-arg-defaults-one
RUN echo quoted-arg-defaults-one-1 > /f1
FROM stagecache/busybox:latest AS quoted-arg-defaults-two
RUN echo quoted-arg-defaults-two-1 > /f1
FROM stagecache/busybox:latest AS qa-three
RUN echo quoted-arg-defaults-three-1 > /f1
FROM stagecache/busybox:latest AS qa-unsupported
RUN echo quoted-arg-defaults-unsupported-1 > /f1
FROM ${V} AS f-double
RUN echo quoted-arg-defaults-f-double-1 > /f2
FROM ${S} AS f-single
RUN echo quoted-arg-defaults-f-single-1 > /f2
FROM qa-${X:-three} AS f-alt
RUN echo quoted-arg-defaults-f-alt-1 > /f2
