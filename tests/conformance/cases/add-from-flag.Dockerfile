# ADD has no --from flag: refused.
FROM stagecache/busybox:latest AS x
RUN echo add-from-flag-x-1 > /x
FROM stagecache/busybox:latest AS final
ADD --from=x /x /add-from-flag-final-x
