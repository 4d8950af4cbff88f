# ARG ARCH=${TARGETPLATFORM#linux/} in the global scope, then FROM base-${ARCH}: picks
# base-amd64 on this amd64 engine.
ARG ARCH=${TARGETPLATFORM#linux/}
FROM stagecache/busybox:latest AS base-amd64
RUN echo arg-targetplatform-strip-base-amd64-1 > /f1
FROM stagecache/busybox:latest AS base-arm64
RUN echo arg-targetplatform-strip-base-arm64-1 > /f1
FROM base-${ARCH} AS final
RUN echo arg-targetplatform-strip-final-1 > /f2
