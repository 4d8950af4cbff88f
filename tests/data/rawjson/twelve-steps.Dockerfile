FROM stagecache/busybox:latest AS build
RUN echo "twelve-steps step 2" > /step-002.txt
RUN echo "twelve-steps step 3" > /step-003.txt
RUN echo "twelve-steps step 4" > /step-004.txt
RUN echo "twelve-steps step 5" > /step-005.txt
RUN echo "twelve-steps step 6" > /step-006.txt
RUN echo "twelve-steps step 7" > /step-007.txt
RUN echo "twelve-steps step 8" > /step-008.txt
RUN echo "twelve-steps step 9" > /step-009.txt
RUN echo "twelve-steps step 10" > /step-010.txt
RUN echo "twelve-steps step 11" > /step-011.txt
RUN echo "twelve-steps step 12" > /step-012.txt

FROM stagecache/busybox:latest AS final
COPY --from=build /step-*.txt /out/
