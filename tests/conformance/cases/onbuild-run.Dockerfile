# ONBUILD RUN in a base stage runs in the stage built FROM it.
FROM stagecache/busybox:latest AS base
RUN echo onbuild-run-base-1 > /b
ONBUILD RUN echo onbuild-run-triggered-1 > /triggered
FROM base AS child
RUN echo onbuild-run-child-1 > /c
