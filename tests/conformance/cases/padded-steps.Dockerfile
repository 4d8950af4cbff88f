# A stage of FROM + 11 RUNs: BuildKit numbers its steps [build  2/12] .. [build 12/12].
FROM stagecache/busybox:latest AS build
RUN echo padded-steps-build-1 > /f1
RUN echo padded-steps-build-2 > /f2
RUN echo padded-steps-build-3 > /f3
RUN echo padded-steps-build-4 > /f4
RUN echo padded-steps-build-5 > /f5
RUN echo padded-steps-build-6 > /f6
RUN echo padded-steps-build-7 > /f7
RUN echo padded-steps-build-8 > /f8
RUN echo padded-steps-build-9 > /f9
RUN echo padded-steps-build-10 > /f10
RUN echo padded-steps-build-11 > /f11

FROM stagecache/busybox:latest AS final
COPY --from=build /f11 /padded-steps-final-f11
RUN echo padded-steps-final-1 > /final1
