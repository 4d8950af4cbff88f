# AS Builder, then FROM Builder with the very same spelling: stage names are stored in lower
# case but FROM's base name is matched as written, so "Builder" is an (invalid) image name.
FROM stagecache/busybox:latest AS Builder
RUN echo from-mixed-case-stage-name-builder-1 > /b
FROM Builder AS app
RUN echo from-mixed-case-stage-name-app-1 > /a
