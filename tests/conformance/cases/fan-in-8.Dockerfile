# A wide fan-in: the final stage copies from 8 independent stages.
FROM stagecache/busybox:latest AS part-1
RUN echo fan-in-8-part-1-1 > /p1
FROM stagecache/busybox:latest AS part-2
RUN echo fan-in-8-part-2-1 > /p2
FROM stagecache/busybox:latest AS part-3
RUN echo fan-in-8-part-3-1 > /p3
FROM stagecache/busybox:latest AS part-4
RUN echo fan-in-8-part-4-1 > /p4
FROM stagecache/busybox:latest AS part-5
RUN echo fan-in-8-part-5-1 > /p5
FROM stagecache/busybox:latest AS part-6
RUN echo fan-in-8-part-6-1 > /p6
FROM stagecache/busybox:latest AS part-7
RUN echo fan-in-8-part-7-1 > /p7
FROM stagecache/busybox:latest AS part-8
RUN echo fan-in-8-part-8-1 > /p8
FROM stagecache/busybox:latest AS final
COPY --from=part-1 /p1 /fan-in-8-final-p1
COPY --from=part-2 /p2 /fan-in-8-final-p2
COPY --from=part-3 /p3 /fan-in-8-final-p3
COPY --from=part-4 /p4 /fan-in-8-final-p4
COPY --from=part-5 /p5 /fan-in-8-final-p5
COPY --from=part-6 /p6 /fan-in-8-final-p6
COPY --from=part-7 /p7 /fan-in-8-final-p7
COPY --from=part-8 /p8 /fan-in-8-final-p8
RUN echo fan-in-8-final-1 > /f
