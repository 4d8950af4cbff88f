# Stages the target does not need are not solved, even when they come first or last.
FROM stagecache/busybox:latest AS lint
RUN echo unused-stages-lint-1 > /l
FROM stagecache/busybox:latest AS used
RUN echo unused-stages-used-1 > /u
FROM stagecache/busybox:latest AS final
COPY --from=used /u /unused-stages-final-u
RUN echo unused-stages-final-1 > /f
FROM stagecache/busybox:latest AS test
COPY --from=lint /l /unused-stages-test-l
RUN echo unused-stages-test-1 > /t
FROM final AS release
RUN echo unused-stages-release-1 > /r
