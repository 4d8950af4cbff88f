FROM --platform=$BUILDPLATFORM stagecache/busybox:latest AS build
ARG TARGETARCH
RUN echo "two-platforms built on $(uname -m) for $TARGETARCH" > /arch.txt
RUN cat /arch.txt && echo "two-platforms step 3 $TARGETARCH" >> /arch.txt

FROM scratch AS out
COPY --from=build /arch.txt /arch.txt
COPY hello.txt /hello.txt
