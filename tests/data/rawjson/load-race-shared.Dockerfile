# A diamond: two independent stages (deps-a, deps-b) feed a third (app), and a
# slim runtime stage takes only the result. `stagecache bake` builds every
# stage and caches each one, so a fresh CI runner rebuilds none of them.
ARG BASE_IMAGE=stagecache/busybox:latest

FROM ${BASE_IMAGE} AS base
RUN mkdir -p /opt/tools && echo "tools 1.0" > /opt/tools/VERSION

FROM base AS deps-a
WORKDIR /deps/a
RUN sleep 1 && echo "library a, built" > liba.txt
COPY a.txt .
RUN cat a.txt >> liba.txt

FROM base AS deps-b
WORKDIR /deps/b
RUN sleep 1 && echo "library b, built" > libb.txt
COPY b.txt .
RUN cat b.txt >> libb.txt

FROM base AS app
WORKDIR /app
COPY --from=deps-a /deps/a/liba.txt lib/
COPY --from=deps-b /deps/b/libb.txt lib/
COPY app.sh .
RUN chmod +x app.sh && ./app.sh > build-info.txt

FROM ${BASE_IMAGE} AS runtime
COPY motd.txt /etc/motd
COPY --from=app /app /app
CMD ["/app/app.sh"]
