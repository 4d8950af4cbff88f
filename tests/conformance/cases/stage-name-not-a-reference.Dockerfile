# BuildKit also looks a stage name up as a named build context, which must be a valid image
# name: "build-" passes the stage-name pattern but fails the whole build.
FROM stagecache/busybox:latest AS ok
RUN echo stage-name-not-a-reference-ok-1 > /ok
FROM stagecache/busybox:latest AS build-
RUN echo stage-name-not-a-reference-build-1 > /b
