# The cross-compilation idiom: the builder runs on the build platform, the result is copied
# into a stage of the target platform.
FROM --platform=$BUILDPLATFORM stagecache/busybox:latest AS build
ARG TARGETOS
ARG TARGETARCH
RUN echo from-platform-buildplatform-build-1 $TARGETOS $TARGETARCH > /out
FROM stagecache/busybox:latest AS final
COPY --from=build /out /from-platform-buildplatform-out
RUN echo from-platform-buildplatform-final-1 > /f2
