# SHELL needs the JSON form with at least one argument.
FROM stagecache/busybox:latest AS a
SHELL []
RUN echo shell-without-arguments-a-1 > /a
