# A stage name is never expanded: AS $NAME is an invalid name, refused.
ARG NAME=build
FROM stagecache/busybox:latest AS $NAME
RUN echo invalid-stage-name-variable-1 > /f
