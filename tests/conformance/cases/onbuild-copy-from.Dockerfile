# ONBUILD COPY --from=src in a base stage used by a later stage. BuildKit master makes child
# depend on src; the built-in frontend of dockerd 26.1 refuses the file.
FROM stagecache/busybox:latest AS src
RUN echo onbuild-copy-from-src-1 > /s
FROM stagecache/busybox:latest AS base
RUN echo onbuild-copy-from-base-1 > /b
ONBUILD COPY --from=src /s /onbuild-copy-from-copied
FROM base AS child
RUN echo onbuild-copy-from-child-1 > /c
