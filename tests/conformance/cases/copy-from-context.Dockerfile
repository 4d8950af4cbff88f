# COPY and ADD from the build context, with a .dockerignore in it.
FROM stagecache/busybox:latest AS build
COPY app/ /copy-from-context-build-app/
ADD notes.txt /copy-from-context-build-notes.txt
RUN cat /copy-from-context-build-app/main.txt > /copy-from-context-build-1
FROM stagecache/busybox:latest AS final
COPY --from=build /copy-from-context-build-1 /copy-from-context-final-1
