# ARG V with no default, FROM busybox:${V}-x: "stagecache/busybox:-x" is not a valid reference.
ARG V
FROM stagecache/busybox:latest AS ok
RUN echo from-invalid-reference-ok-1 > /o
FROM stagecache/busybox:${V}-x AS final
RUN echo from-invalid-reference-final-1 > /f
