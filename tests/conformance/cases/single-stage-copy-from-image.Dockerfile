# One unnamed stage that also copies from an image: the image counts as a second stage for
# BuildKit's labels, so the steps are labelled [stage-0 2/3], not [2/3].
FROM stagecache/busybox:latest
COPY --from=stagecache/busybox:latest /bin/busybox /single-stage-copy-from-image-bb
RUN echo single-stage-copy-from-image-1 > /f1
