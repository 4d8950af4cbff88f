# Every shell expansion form BuildKit's lexer accepts, used in FROM through global ARGs.
# Each f-* stage picks one of the pick-* stages; a wrong expansion picks another stage or an
# image that does not exist.
ARG A=a
ARG EMPTY=
ARG PFX=zz-pick-a
ARG SFX=pick-b-zz
ARG DOTS=pick.b.c

FROM stagecache/busybox:latest AS pick-a
RUN echo from-expansion-forms-pick-a-1 > /p
FROM stagecache/busybox:latest AS pick-b
RUN echo from-expansion-forms-pick-b-1 > /p
FROM stagecache/busybox:latest AS pick-c
RUN echo from-expansion-forms-pick-c-1 > /p
FROM stagecache/busybox:latest AS pick-b.c
RUN echo from-expansion-forms-pick-b.c-1 > /p
FROM stagecache/busybox:latest AS pick-b-c
RUN echo from-expansion-forms-pick-b-c-1 > /p

# $X
FROM pick-$A AS f-dollar
RUN echo from-expansion-forms-f-dollar-1 > /f
# ${X}
FROM pick-${A} AS f-brace
RUN echo from-expansion-forms-f-brace-1 > /f
# ${X:-d}: EMPTY is set but empty, so the default is used -> pick-b
FROM pick-${EMPTY:-b} AS f-colon-default
RUN echo from-expansion-forms-f-colon-default-1 > /f
# ${X-d}: EMPTY is set, so its empty value is used -> pick-a (pick-ba if treated like :-)
FROM pick-${EMPTY-b}a AS f-default
RUN echo from-expansion-forms-f-default-1 > /f
# ${X-d} on an ARG that is not declared at all -> pick-c
FROM pick-${UNDECLARED-c} AS f-undeclared-default
RUN echo from-expansion-forms-f-undeclared-default-1 > /f
# ${X:+a}: EMPTY is empty, so nothing -> pick-a (pick-ba if treated like +)
FROM pick-${EMPTY:+b}a AS f-colon-alt
RUN echo from-expansion-forms-f-colon-alt-1 > /f
# ${X+a}: EMPTY is set -> pick-b
FROM pick-${EMPTY+b} AS f-alt
RUN echo from-expansion-forms-f-alt-1 > /f
# ${X#p}: shortest prefix "zz-" -> pick-a (longest would leave "a")
FROM ${PFX#*-} AS f-prefix
RUN echo from-expansion-forms-f-prefix-1 > /f
# ${X##p}: longest prefix "zz-pick-" -> pick-a (shortest would give pick-pick-a)
FROM pick-${PFX##*-} AS f-prefix-long
RUN echo from-expansion-forms-f-prefix-long-1 > /f
# ${X%p}: shortest suffix "-zz" -> pick-b (longest would leave "pick")
FROM ${SFX%-*} AS f-suffix
RUN echo from-expansion-forms-f-suffix-1 > /f
# ${X%%p}: longest suffix "-b-zz" -> pick, then -c -> pick-c
FROM ${SFX%%-*}-c AS f-suffix-long
RUN echo from-expansion-forms-f-suffix-long-1 > /f
# ${X/p/r}: first "." only -> pick-b.c
FROM ${DOTS/./-} AS f-replace
RUN echo from-expansion-forms-f-replace-1 > /f
# ${X//p/r}: every "." -> pick-b-c
FROM ${DOTS//./-} AS f-replace-all
RUN echo from-expansion-forms-f-replace-all-1 > /f
