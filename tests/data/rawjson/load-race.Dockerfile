FROM 127.0.0.1:47989/stagecache/busybox:latest AS a
RUN sleep 0.5 && echo 19114 > /x
