# A chain of 12 stages, each FROM the previous one.
FROM stagecache/busybox:latest AS s01
RUN echo chain-12-s01-1 > /s01
FROM s01 AS s02
RUN echo chain-12-s02-1 > /s02
FROM s02 AS s03
RUN echo chain-12-s03-1 > /s03
FROM s03 AS s04
RUN echo chain-12-s04-1 > /s04
FROM s04 AS s05
RUN echo chain-12-s05-1 > /s05
FROM s05 AS s06
RUN echo chain-12-s06-1 > /s06
FROM s06 AS s07
RUN echo chain-12-s07-1 > /s07
FROM s07 AS s08
RUN echo chain-12-s08-1 > /s08
FROM s08 AS s09
RUN echo chain-12-s09-1 > /s09
FROM s09 AS s10
RUN echo chain-12-s10-1 > /s10
FROM s10 AS s11
RUN echo chain-12-s11-1 > /s11
FROM s11 AS s12
RUN echo chain-12-s12-1 > /s12
