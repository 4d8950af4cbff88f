FROM stagecache/busybox:latest AS base
WORKDIR /bake-session-fail
COPY base-1.txt ./base-1.txt
COPY base-2.txt ./base-2.txt

FROM base AS deps-a
COPY a.txt ./a.txt

FROM base AS deps-b
COPY missing-file.txt ./b.txt

FROM base AS app
COPY --from=deps-a /bake-session-fail/a.txt ./a.txt
COPY --from=deps-b /bake-session-fail/b.txt ./b.txt
