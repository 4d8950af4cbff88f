# Unnamed stages used through COPY --from=0 and --from=1. BuildKit labels them stage-0 and
# stage-1 but only lets --target name a named stage.
FROM stagecache/busybox:latest
RUN echo unnamed-from-index-0-1 > /f0
FROM stagecache/busybox:latest
RUN echo unnamed-from-index-1-1 > /f1
COPY --from=0 /f0 /unnamed-from-index-1-f0
FROM stagecache/busybox:latest AS final
COPY --from=1 /f1 /unnamed-from-index-final-f1
COPY --from=0 /f0 /unnamed-from-index-final-f0
RUN echo unnamed-from-index-final-1 > /f2
