# docker/cli and moby: FROM base-${TARGETOS} picks base-linux or base-windows.
FROM stagecache/busybox:latest AS base-linux
RUN echo from-targetos-select-base-linux-1 > /f1
FROM stagecache/busybox:latest AS base-windows
RUN echo from-targetos-select-base-windows-1 > /f1
FROM base-${TARGETOS} AS base
RUN echo from-targetos-select-base-1 > /f2
FROM base AS final
RUN echo from-targetos-select-final-1 > /f3
