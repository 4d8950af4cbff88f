# Instructions and AS in lower case (and mixed case) are accepted.
from stagecache/busybox:latest as build
run echo lowercase-instructions-build-1 > /b
workdir /lowercase-instructions-w
From stagecache/busybox:latest As final
copy --from=build /b /lowercase-instructions-final-b
Run echo lowercase-instructions-final-1 > /f
