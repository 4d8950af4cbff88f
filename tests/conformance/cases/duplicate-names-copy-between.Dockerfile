# Two stages named build; a COPY --from=build between the two definitions refers to the later
# one, which is not defined yet there, so BuildKit refuses the file.
FROM stagecache/busybox:latest AS build
RUN echo duplicate-names-copy-between-build1-1 > /b1
FROM stagecache/busybox:latest AS middle
COPY --from=build /b1 /duplicate-names-copy-between-middle-b1
RUN echo duplicate-names-copy-between-middle-1 > /m
FROM stagecache/busybox:latest AS build
RUN echo duplicate-names-copy-between-build2-1 > /b2
RUN echo duplicate-names-copy-between-build2-2 > /b3
FROM stagecache/busybox:latest AS final
COPY --from=middle /m /duplicate-names-copy-between-final-m
COPY --from=build /b2 /duplicate-names-copy-between-final-b2
RUN echo duplicate-names-copy-between-final-1 > /f
