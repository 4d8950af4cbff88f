# Two target platforms on one amd64 engine without emulation: every stage that runs
# commands is FROM --platform=$BUILDPLATFORM, and declares ARG TARGETARCH so that BuildKit
# labels its steps [linux/amd64->arm64 ...] for the arm64 target. The scratch stage only
# copies, so it runs "on" the target platform: [linux/arm64 out 1/1].
FROM --platform=$BUILDPLATFORM stagecache/busybox:latest AS base-amd64
ARG TARGETARCH
RUN echo multi-platform-targetarch-base-amd64-1 > /f1
FROM --platform=$BUILDPLATFORM stagecache/busybox:latest AS base-arm64
ARG TARGETARCH
RUN echo multi-platform-targetarch-base-arm64-1 > /f1
FROM base-${TARGETARCH} AS final
ARG TARGETARCH
RUN echo multi-platform-targetarch-final-1 > /f2
FROM scratch AS out
COPY --from=final /f2 /multi-platform-targetarch-out
