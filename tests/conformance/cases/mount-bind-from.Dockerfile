# RUN --mount=type=bind,from=STAGE: the stage is a dependency although nothing is copied.
FROM stagecache/busybox:latest AS build
RUN echo mount-bind-from-build-1 > /out
FROM stagecache/busybox:latest AS final
RUN --mount=type=bind,from=build,source=/out,target=/mnt/out cat /mnt/out > /mount-bind-from-final-1
