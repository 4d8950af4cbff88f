# COPY --from an image (the local busybox) next to COPY --from stages.
FROM stagecache/busybox:latest AS a
RUN echo copy-from-external-image-a-1 > /a
FROM scratch AS files
COPY --from=a /a /copy-from-external-image-files-a
FROM stagecache/busybox:latest AS final
COPY --from=stagecache/busybox:latest /bin/busybox /copy-from-external-image-final-bb
COPY --from=files /copy-from-external-image-files-a /copy-from-external-image-final-a
RUN echo copy-from-external-image-final-1 > /f2
