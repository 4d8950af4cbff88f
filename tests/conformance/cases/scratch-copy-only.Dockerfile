# FROM scratch stages that only COPY (an artifact stage, and one copying from the context).
FROM stagecache/busybox:latest AS build
RUN echo scratch-copy-only-build-1 > /out
FROM scratch AS artifact
COPY --from=build /out /scratch-copy-only-artifact-out
FROM scratch AS files
COPY scratch-copy-only.txt /scratch-copy-only-files-txt
COPY --from=artifact /scratch-copy-only-artifact-out /scratch-copy-only-files-out
