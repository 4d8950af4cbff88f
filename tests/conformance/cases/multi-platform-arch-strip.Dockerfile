# ARG ARCH=${TARGETPLATFORM#linux/} then FROM base-${ARCH}, built for two platforms at once
# (stages run on the build platform; ARG TARGETPLATFORM keeps the steps of each target apart).
ARG ARCH=${TARGETPLATFORM#linux/}
FROM --platform=$BUILDPLATFORM stagecache/busybox:latest AS base-amd64
ARG TARGETPLATFORM
RUN echo multi-platform-arch-strip-base-amd64-1 > /f1
FROM --platform=$BUILDPLATFORM stagecache/busybox:latest AS base-arm64
ARG TARGETPLATFORM
RUN echo multi-platform-arch-strip-base-arm64-1 > /f1
FROM base-${ARCH} AS final
ARG TARGETPLATFORM
RUN echo multi-platform-arch-strip-final-1 > /f2
