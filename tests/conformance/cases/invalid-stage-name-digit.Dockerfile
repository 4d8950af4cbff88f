# A stage name starting with a digit: refused.
FROM stagecache/busybox:latest AS 1abc
RUN echo invalid-stage-name-digit-1 > /f
