FROM stagecache/busybox:latest AS leak
# The empty line in this ARG makes the frontend warn, quoting the line: the default value with it.
ARG DB_PASS="rec-Q7mZp2Lx9Vt4Nc8Wb3Hs6Jd1Fg5Ky0 &<>%{}é@:!#*~" \

    SIGNING_KEY
RUN printf 'plain: %s\n' "$DB_PASS"
RUN head -c 4100 /dev/zero | tr '\0' a; sleep 0.3; printf '%s' "$DB_PASS"; sleep 0.3; head -c 300 /dev/zero | tr '\0' b; echo
RUN printf 'split: %s' "${DB_PASS:0:20}"; sleep 0.3; printf '%s|' "${DB_PASS:20}"; sleep 0.3; printf '%s' "${SIGNING_KEY:0:10}"; sleep 0.3; printf '%s\n' "${SIGNING_KEY:10}"

FROM leak AS boom
ARG SIGNING_KEY
RUN printf 'failing with %s\n' "$SIGNING_KEY" >&2; exit 3
