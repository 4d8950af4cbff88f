# Stage names with ".", "_" and "-".
FROM stagecache/busybox:latest AS build.v1
RUN echo stage-names-punctuation-build.v1-1 > /b
FROM stagecache/busybox:latest AS my_stage
RUN echo stage-names-punctuation-my_stage-1 > /m
FROM build.v1 AS x-y
COPY --from=my_stage /m /stage-names-punctuation-x-y-m
RUN echo stage-names-punctuation-x-y-1 > /x
