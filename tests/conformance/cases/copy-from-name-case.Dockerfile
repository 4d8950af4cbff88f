# COPY --from=BUILD where the stage is "build": --from names are case-insensitive.
FROM stagecache/busybox:latest AS build
RUN echo copy-from-name-case-build-1 > /b
FROM stagecache/busybox:latest AS final
COPY --from=BUILD /b /copy-from-name-case-final-b
RUN echo copy-from-name-case-final-1 > /f2
