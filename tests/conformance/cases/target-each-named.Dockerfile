# A diamond; every named stage is a --target of its own.
FROM stagecache/busybox:latest AS base
RUN echo target-each-named-base-1 > /f1
FROM base AS left
RUN echo target-each-named-left-1 > /l
FROM base AS right
RUN echo target-each-named-right-1 > /r
FROM stagecache/busybox:latest AS tools
RUN echo target-each-named-tools-1 > /t
FROM left AS app
COPY --from=right /r /target-each-named-app-r
RUN echo target-each-named-app-1 > /a
