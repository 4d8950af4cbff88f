# An unnamed stage between named ones, used by a later named stage by its index.
FROM stagecache/busybox:latest AS first
RUN echo unnamed-middle-stage-first-1 > /f1
FROM first
RUN echo unnamed-middle-stage-middle-1 > /f2
FROM stagecache/busybox:latest AS last
COPY --from=1 /f2 /unnamed-middle-stage-last-f2
RUN echo unnamed-middle-stage-last-1 > /f3
