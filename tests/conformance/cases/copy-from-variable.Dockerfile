# COPY --from=${SRC}: --from takes no variables (newer BuildKit says so in its error; this
# engine reads "${SRC}" as an image name).
FROM stagecache/busybox:latest AS build
RUN echo copy-from-variable-build-1 > /b
FROM stagecache/busybox:latest AS final
ARG SRC=build
COPY --from=${SRC} /b /copy-from-variable-final-b
RUN echo copy-from-variable-final-1 > /f
