# escape=`
# The escape directive (Windows-style Dockerfiles): ` continues lines, \ is a plain character.
FROM stagecache/busybox:latest AS build
RUN echo escape-backtick-build-1 `
    > /b
RUN echo escape-backtick-build-2\n > /b2
FROM stagecache/busybox:latest `
    AS final
COPY --from=build /b /escape-backtick-final-b
RUN echo escape-backtick-final-1 > /f
