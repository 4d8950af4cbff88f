# Backslash continuations in FROM, RUN and COPY.
FROM \
    stagecache/busybox:latest \
    AS build
RUN echo line-continuations-build-1 \
    && echo line-continuations-build-1b \
    > /b
FROM stagecache/busybox:latest AS final
COPY --from=build \
     /b \
     /line-continuations-final-b
RUN set -e; \
    echo line-continuations-final-1 > /f; \
    cat /f
