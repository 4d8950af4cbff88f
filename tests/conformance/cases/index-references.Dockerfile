# Numeric references to named stages: COPY --from=0 and --from=1.
FROM stagecache/busybox:latest AS zero
RUN echo index-references-zero-1 > /z
FROM stagecache/busybox:latest AS one
RUN echo index-references-one-1 > /o
FROM stagecache/busybox:latest AS two
RUN echo index-references-two-1 > /t
FROM stagecache/busybox:latest AS final
COPY --from=0 /z /index-references-final-z
COPY --from=1 /o /index-references-final-o
RUN echo index-references-final-1 > /f
