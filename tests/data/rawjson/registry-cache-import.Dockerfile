FROM stagecache/busybox:latest AS build
RUN echo "registry-cache-import step 2" > /step-002.txt
RUN echo "registry-cache-import step 3" > /step-003.txt
RUN echo "registry-cache-import step 4" > /step-004.txt
RUN echo "registry-cache-import step 5" > /step-005.txt
RUN echo "registry-cache-import step 6" > /step-006.txt
RUN echo "registry-cache-import step 7" > /step-007.txt
RUN echo "registry-cache-import step 8" > /step-008.txt
RUN echo "registry-cache-import step 9" > /step-009.txt
RUN echo "registry-cache-import step 10" > /step-010.txt
RUN echo "registry-cache-import step 11" > /step-011.txt
RUN echo "registry-cache-import step 12" > /step-012.txt

# Never built (--target build). Without a second stage BuildKit leaves the
# stage name out of the step names: [ 5/12] instead of [build  5/12].
FROM scratch AS unused
COPY --from=build /step-012.txt /
