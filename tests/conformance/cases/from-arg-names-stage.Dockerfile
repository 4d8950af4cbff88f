# grafana's Dockerfile: ARG GO_SRC=go-builder, then FROM ${GO_SRC} AS go-src, so a build arg
# can swap a stage for a prebuilt image. go-src and js-src have no steps of their own.
ARG GO_SRC=go-builder
ARG JS_SRC=js-builder
FROM stagecache/busybox:latest AS js-builder
RUN echo from-arg-names-stage-js-builder-1 > /js
FROM stagecache/busybox:latest AS go-builder
RUN echo from-arg-names-stage-go-builder-1 > /go
FROM ${GO_SRC} AS go-src
FROM ${JS_SRC} AS js-src
FROM stagecache/busybox:latest AS final
COPY --from=go-src /go /from-arg-names-stage-go
COPY --from=js-src /js /from-arg-names-stage-js
RUN echo from-arg-names-stage-final-1 > /f2
