# RUN --mount=from=${SRC}: refused, "'from' doesn't support variable expansion".
FROM stagecache/busybox:latest AS build
RUN echo mount-from-variable-build-1 > /b
FROM stagecache/busybox:latest AS final
ARG SRC=build
RUN --mount=from=${SRC},target=/mnt/b cat /mnt/b/b > /mount-from-variable-final-1
