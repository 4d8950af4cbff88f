FROM stagecache/busybox:latest AS solo
RUN echo "single-named-stage step 2" > /step-002.txt
RUN echo "single-named-stage step 3" > /step-003.txt
