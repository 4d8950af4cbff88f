# Stages with only ENV / ARG / LABEL make no step; they show up through the steps of a later
# stage built FROM them.
FROM stagecache/busybox:latest AS base
RUN echo env-arg-only-stages-base-1 > /b
FROM base AS env
ENV ENV_ARG_ONLY_STAGES=1
LABEL env-arg-only-stages=1
FROM env AS args
ARG ENV_ARG_ONLY_ARG=2
FROM args AS final
RUN echo env-arg-only-stages-final-1 $ENV_ARG_ONLY_STAGES > /f
