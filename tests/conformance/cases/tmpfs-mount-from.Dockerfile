# A tmpfs mount has no source: its from= is ignored (no dependency on stage a).
FROM stagecache/busybox:latest AS a
RUN echo tmpfs-mount-from-a-1 > /a
FROM stagecache/busybox:latest AS b
RUN --mount=type=tmpfs,from=a,target=/t echo tmpfs-mount-from-b-1 > /b
RUN echo tmpfs-mount-from-b-2 > /b2
