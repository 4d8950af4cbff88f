# --platform linux/arm is linux/arm/v7 to BuildKit: TARGETVARIANT is v7.
FROM --platform=$BUILDPLATFORM stagecache/busybox:latest AS va
RUN echo platform-variant-normalized-va-1 > /v
FROM --platform=$BUILDPLATFORM stagecache/busybox:latest AS vav7
RUN echo platform-variant-normalized-vav7-1 > /v
FROM va${TARGETVARIANT} AS final
ARG TARGETARCH
RUN echo platform-variant-normalized-final-1 > /f
