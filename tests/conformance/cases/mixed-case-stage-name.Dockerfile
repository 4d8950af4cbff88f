# AS Builder (mixed case), used through COPY --from=Builder and --target Builder: BuildKit
# lower-cases the name in its labels and matches --from and --target case-insensitively.
FROM stagecache/busybox:latest AS Builder
RUN echo mixed-case-stage-name-builder-1 > /b
FROM stagecache/busybox:latest AS App
COPY --from=Builder /b /mixed-case-stage-name-app-b
RUN echo mixed-case-stage-name-app-1 > /a
