# A typo'd instruction: refused.
FROM stagecache/busybox:latest AS build
RUNN echo unknown-instruction-build-1 > /b
