FROM stagecache/busybox:latest AS base
RUN echo "many-stages base 1" > /base-1.txt
RUN echo "many-stages base 2" > /base-2.txt

FROM base AS a
RUN echo "many-stages a 1" > /a-1.txt
RUN echo "many-stages a 2" > /a-2.txt

FROM base AS b
RUN echo "many-stages b 1" > /b-1.txt
RUN echo "many-stages b 2" > /b-2.txt
RUN echo "many-stages b 3" > /b-3.txt

FROM base AS c
RUN echo "many-stages c 1" > /c-1.txt
RUN echo "many-stages c 2" > /c-2.txt

FROM base AS d
COPY --from=a /a-1.txt /a-2.txt /from-a/
COPY --from=b /b-1.txt /b-2.txt /b-3.txt /from-b/
RUN echo "many-stages d 1" > /d-1.txt

FROM c AS e
RUN echo "many-stages e 1" > /e-1.txt
COPY hello.txt /e-hello.txt

FROM d AS f
COPY --from=e /e-1.txt /c-1.txt /c-2.txt /from-e/
RUN echo "many-stages f 1" > /f-1.txt

FROM stagecache/busybox:latest AS final
COPY --from=f /from-a /from-b /from-e /out/
RUN echo "many-stages final 1" > /final-1.txt
