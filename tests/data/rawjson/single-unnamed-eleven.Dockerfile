FROM stagecache/busybox:latest
RUN echo "single-unnamed-eleven step 2" > /step-002.txt
RUN echo "single-unnamed-eleven step 3" > /step-003.txt
RUN echo "single-unnamed-eleven step 4" > /step-004.txt
RUN echo "single-unnamed-eleven step 5" > /step-005.txt
RUN echo "single-unnamed-eleven step 6" > /step-006.txt
RUN echo "single-unnamed-eleven step 7" > /step-007.txt
RUN echo "single-unnamed-eleven step 8" > /step-008.txt
RUN echo "single-unnamed-eleven step 9" > /step-009.txt
RUN echo "single-unnamed-eleven step 10" > /step-010.txt
RUN echo "single-unnamed-eleven step 11" > /step-011.txt
