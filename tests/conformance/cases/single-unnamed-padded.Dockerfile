# The only stage is unnamed: BuildKit prints [ 2/12] with no stage name.
FROM stagecache/busybox:latest
RUN echo single-unnamed-padded-1 > /f1
RUN echo single-unnamed-padded-2 > /f2
RUN echo single-unnamed-padded-3 > /f3
RUN echo single-unnamed-padded-4 > /f4
RUN echo single-unnamed-padded-5 > /f5
RUN echo single-unnamed-padded-6 > /f6
RUN echo single-unnamed-padded-7 > /f7
RUN echo single-unnamed-padded-8 > /f8
RUN echo single-unnamed-padded-9 > /f9
RUN echo single-unnamed-padded-10 > /f10
RUN echo single-unnamed-padded-11 > /f11
