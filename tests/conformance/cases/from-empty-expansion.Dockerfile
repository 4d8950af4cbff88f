# ARG BASE with no value, FROM ${BASE}: the base name is blank, refused.
ARG BASE
FROM stagecache/busybox:latest AS ok
RUN echo from-empty-expansion-ok-1 > /o
FROM ${BASE} AS final
RUN echo from-empty-expansion-final-1 > /f
