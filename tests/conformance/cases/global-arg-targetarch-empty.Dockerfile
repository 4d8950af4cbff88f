# A global ARG TARGETARCH with no value before FROM stage-${TARGETARCH}. BuildKit master keeps
# the automatic value (amd64 here); the built-in frontend of dockerd 26.1 erases it.
ARG TARGETARCH
FROM stagecache/busybox:latest AS stage-amd64
RUN echo global-arg-targetarch-empty-amd64-1 > /f1
FROM stagecache/busybox:latest AS stage-arm64
RUN echo global-arg-targetarch-empty-arm64-1 > /f1
FROM stage-${TARGETARCH} AS final
RUN echo global-arg-targetarch-empty-final-1 > /f2
