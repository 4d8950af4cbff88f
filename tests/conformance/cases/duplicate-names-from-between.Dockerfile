# Two stages named build: FROM build between them uses the first, --from=build after the
# second uses the second, and --target build is the second.
FROM stagecache/busybox:latest AS build
RUN echo duplicate-names-from-between-build1-1 > /b1
FROM build AS middle
RUN echo duplicate-names-from-between-middle-1 > /m
FROM stagecache/busybox:latest AS build
RUN echo duplicate-names-from-between-build2-1 > /b2
RUN echo duplicate-names-from-between-build2-2 > /b3
FROM stagecache/busybox:latest AS final
COPY --from=middle /m /duplicate-names-from-between-final-m
COPY --from=build /b2 /duplicate-names-from-between-final-b2
RUN echo duplicate-names-from-between-final-1 > /f
