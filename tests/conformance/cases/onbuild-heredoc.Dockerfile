# An ONBUILD trigger with a heredoc (BuildKit appends the heredoc to the trigger).
FROM stagecache/busybox:latest AS base
RUN echo onbuild-heredoc-base-1 > /b
ONBUILD RUN <<EOT
echo onbuild-heredoc-trigger-1 > /t
EOT
FROM base AS child
RUN echo onbuild-heredoc-child-1 > /c
