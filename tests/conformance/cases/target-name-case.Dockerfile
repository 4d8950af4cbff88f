# --target matches stage names case-insensitively (BUILD, Build); an unknown target is refused.
FROM stagecache/busybox:latest AS build
RUN echo target-name-case-build-1 > /b
FROM stagecache/busybox:latest AS final
COPY --from=build /b /target-name-case-final-b
RUN echo target-name-case-final-1 > /f
