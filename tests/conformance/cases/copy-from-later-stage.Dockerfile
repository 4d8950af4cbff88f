# COPY --from a stage defined further down: refused.
FROM stagecache/busybox:latest AS early
COPY --from=later /l /copy-from-later-stage-early-l
RUN echo copy-from-later-stage-early-1 > /e
FROM stagecache/busybox:latest AS later
RUN echo copy-from-later-stage-later-1 > /l
