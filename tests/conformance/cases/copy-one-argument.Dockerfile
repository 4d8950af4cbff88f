# COPY with a single argument: refused.
FROM stagecache/busybox:latest AS build
RUN echo copy-one-argument-build-1 > /b
COPY /b
