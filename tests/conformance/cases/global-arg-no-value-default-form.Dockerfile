# A global ARG declared without a value, then ${UNSET-c} in FROM. BuildKit master leaves UNSET
# unset (buildMetaArgs adds no value), so the default applies: pick-c. The built-in frontend of
# dockerd 26.1 sets it to the empty string, so FROM pick-${UNSET-c} becomes "pick-".
ARG UNSET
FROM stagecache/busybox:latest AS pick-c
RUN echo global-arg-no-value-default-form-pick-c-1 > /p
FROM pick-${UNSET-c} AS final
RUN echo global-arg-no-value-default-form-final-1 > /f
