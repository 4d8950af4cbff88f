# COPY --from the stage's own name: refused (circular dependency).
FROM stagecache/busybox:latest AS self
RUN echo copy-from-self-self-1 > /s
COPY --from=self /s /copy-from-self-self-s
