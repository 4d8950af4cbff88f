FROM stagecache/busybox:latest AS build
RUN echo "fail-step-5-of-12 step 2" > /step-002.txt
RUN echo "fail-step-5-of-12 step 3" > /step-003.txt
RUN echo "fail-step-5-of-12 step 4" > /step-004.txt
RUN echo "fail-step-5-of-12: step 5 starts" && echo "fail-step-5-of-12: warning on stderr" >&2 && echo "fail-step-5-of-12: second stdout line" && echo "fail-step-5-of-12: fatal: giving up with 3" >&2 && exit 3
RUN echo "fail-step-5-of-12 step 6" > /step-006.txt
RUN echo "fail-step-5-of-12 step 7" > /step-007.txt
RUN echo "fail-step-5-of-12 step 8" > /step-008.txt
RUN echo "fail-step-5-of-12 step 9" > /step-009.txt
RUN echo "fail-step-5-of-12 step 10" > /step-010.txt
RUN echo "fail-step-5-of-12 step 11" > /step-011.txt
RUN echo "fail-step-5-of-12 step 12" > /step-012.txt

# Never built (--target build). Without a second stage BuildKit leaves the
# stage name out of the step names: [ 5/12] instead of [build  5/12].
FROM scratch AS unused
COPY --from=build /step-012.txt /
