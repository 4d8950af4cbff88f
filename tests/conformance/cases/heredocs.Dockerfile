# Heredocs: RUN <<EOF with several commands, COPY <<EOF into a file, a heredoc in each stage.
FROM stagecache/busybox:latest AS build
RUN <<EOF
echo heredocs-build-1 > /b
echo heredocs-build-1b >> /b
EOF
COPY <<EOF /heredocs-build-file
heredocs-build-2
EOF
RUN <<SCRIPT sh
echo heredocs-build-3 > /b3
SCRIPT
FROM stagecache/busybox:latest AS final
COPY --from=build /b /heredocs-final-b
COPY <<EOF /heredocs-final-file
heredocs-final-2
EOF
RUN echo heredocs-final-1 > /f
