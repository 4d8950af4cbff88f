# Flag names are case-sensitive: --FROM is an unknown flag.
FROM stagecache/busybox:latest AS a
RUN echo copy-from-flag-uppercase-a-1 > /a
FROM stagecache/busybox:latest AS b
COPY --FROM=a /a /copy-from-flag-uppercase-b
