# A child stage whose only steps are its base stage's ONBUILD triggers. On frontends before
# 1.11 triggers are not counted in the total, so with a total of 0 BuildKit prints no
# "[child i/n]" prefix at all; later frontends count and prefix them.
FROM stagecache/busybox:latest AS base
RUN echo onbuild-only-triggers-base-1 > /b
ONBUILD RUN echo onbuild-only-triggers-trigger-1 > /t
FROM base AS child
CMD ["true"]
FROM base AS other
ENV X=1
RUN echo onbuild-only-triggers-other-1 > /o
