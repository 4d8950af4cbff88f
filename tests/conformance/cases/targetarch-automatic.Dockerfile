# The automatic TARGETARCH without any ARG line before FROM: available in FROM as is.
FROM stagecache/busybox:latest AS stage-amd64
RUN echo targetarch-automatic-amd64-1 > /f1
FROM stagecache/busybox:latest AS stage-arm64
RUN echo targetarch-automatic-arm64-1 > /f1
FROM stage-${TARGETARCH} AS final
RUN echo targetarch-automatic-final-1 > /f2
