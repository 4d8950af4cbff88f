FROM stagecache/busybox:latest AS base
RUN echo "many-stages-fail base 1" > /base-1.txt

FROM base AS a
RUN echo "many-stages-fail a 1" > /a-1.txt

FROM base AS b
RUN echo "many-stages-fail b 1" > /b-1.txt

FROM base AS d
COPY --from=a /a-1.txt /from-a/
COPY --from=b /b-1.txt /from-b/
RUN echo "many-stages-fail d fails" && exit 3

FROM stagecache/busybox:latest AS final
COPY --from=d /from-a /out/
RUN echo "many-stages-fail final 1" > /final-1.txt
