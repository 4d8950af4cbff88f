# --mount=from=STAGE with no type (bind is the default), and a cache mount seeded from a stage.
FROM stagecache/busybox:latest AS src
RUN echo mount-from-and-cache-from-src-1 > /s
FROM stagecache/busybox:latest AS seed
RUN mkdir -p /seed && echo mount-from-and-cache-from-seed-1 > /seed/x
FROM stagecache/busybox:latest AS final
RUN --mount=from=src,target=/mnt/src cat /mnt/src/s > /mount-from-and-cache-from-final-1
RUN --mount=type=cache,from=seed,source=/seed,target=/cache ls /cache > /mount-from-and-cache-from-final-2
RUN --mount=type=cache,target=/cache2 echo mount-from-and-cache-from-final-3 > /f3
