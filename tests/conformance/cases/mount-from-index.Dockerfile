# RUN --mount=from=0: unlike COPY --from=0, BuildKit resolves a mount's from= by stage name
# only, so "0" is an image name (docker.io/library/0, which the harness tags locally from the
# busybox image; without it the build fails to resolve the image) and stage zero is not solved.
FROM stagecache/busybox:latest AS zero
RUN echo mount-from-index-zero-1 > /z
FROM stagecache/busybox:latest AS final
RUN --mount=from=0,target=/mnt/zero ls /mnt/zero/bin > /mount-from-index-final-1
