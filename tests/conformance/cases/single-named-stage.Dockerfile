# A file with one stage, named: BuildKit drops the name from its step labels ([2/3], not
# [app 2/3]) because the file has a single stage.
FROM stagecache/busybox:latest AS app
RUN echo single-named-stage-app-1 > /f1
RUN echo single-named-stage-app-2 > /f2
