# A digest of the wrong length, in a stage the target never reaches: BuildKit still refuses
# the whole file (every FROM is parsed), so stagecache must too.
FROM stagecache/busybox:latest AS ok
RUN echo from-digest-invalid-ok-1 > /ok
FROM stagecache/busybox@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa AS unused
RUN echo from-digest-invalid-unused-1 > /u
