# Comments and empty lines inside continued instructions are dropped by the parser.
FROM stagecache/busybox:latest AS build
RUN echo comments-in-continuation-build-1 \
# a comment in the middle of a RUN
    && echo comments-in-continuation-build-1b \

    > /b
# a comment between stages
FROM stagecache/busybox:latest AS final
COPY --from=build \
  # an indented comment
  /b /comments-in-continuation-final-b
RUN echo comments-in-continuation-final-1 > /f
