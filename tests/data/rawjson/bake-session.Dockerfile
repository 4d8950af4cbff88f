FROM stagecache/busybox:latest AS base
WORKDIR /bake-session
COPY base-1.txt ./base-1.txt
COPY base-2.txt ./base-2.txt

FROM base AS deps-a
COPY a.txt ./a.txt

FROM base AS deps-b
COPY b.txt ./b.txt

FROM base AS app
COPY --from=deps-a /bake-session/a.txt ./a.txt
COPY --from=deps-b /bake-session/b.txt ./b.txt
