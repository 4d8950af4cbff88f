# FROM Build where the stage is "build": FROM's base name is matched case-sensitively, so
# "Build" is an image reference, and an invalid one (upper case).
FROM stagecache/busybox:latest AS build
RUN echo from-uppercase-stage-build-1 > /b
FROM Build AS final
RUN echo from-uppercase-stage-final-1 > /f
