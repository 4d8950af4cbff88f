# A stage the target uses only through RUN --mount (no FROM, no COPY).
FROM stagecache/busybox:latest AS deps
RUN echo stage-only-via-mount-deps-1 > /d
FROM stagecache/busybox:latest AS unrelated
RUN echo stage-only-via-mount-unrelated-1 > /x
FROM stagecache/busybox:latest AS final
RUN --mount=type=bind,from=deps,target=/deps cat /deps/d > /stage-only-via-mount-final-1
