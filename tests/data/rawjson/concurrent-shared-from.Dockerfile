FROM stagecache/busybox:latest AS victim
RUN echo "concurrent-shared-from step 2" > /step-002.txt
RUN echo "concurrent-shared-from step 3" > /step-003.txt

# Never built (--target victim). Without a second stage BuildKit leaves the
# stage name out of the step names: [ 5/12] instead of [victim  5/12].
FROM scratch AS unused
COPY --from=victim /step-003.txt /
