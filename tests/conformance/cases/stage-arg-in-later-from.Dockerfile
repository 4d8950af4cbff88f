# An ARG declared inside a stage is not visible in a later FROM: ${NEXT:-...} there takes the
# default, so b is based on the image, not on stage a.
FROM stagecache/busybox:latest AS a
ARG NEXT=a
RUN echo stage-arg-in-later-from-a-1 > /a
FROM ${NEXT:-stagecache/busybox:latest} AS b
RUN echo stage-arg-in-later-from-b-1 > /b
