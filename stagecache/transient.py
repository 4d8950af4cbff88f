"""Failures that are worth one more try: what an engine and a registry say when several
builds of one project race each other (CI jobs of one project on a shared engine, pushing to
the same refs). Measured with four bakes of one project started at once: two `--load`s of one
tag ("image ...: already exists"), an index pushed while its manifests were being replaced
(400 "manifest list/index references to blobs and/or manifests are missing"), a manifest
pushed while another push of the same image was writing its layers (a bare 400), 500s from
the registry under concurrent writes, and a load whose parent layer another job's image delete
let containerd collect."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

LOAD_RACE = re.compile(r'image "[^"]+": already exists')
"""Two ``--load``s of one tag at once: the containerd image store refuses the second."""
_MARKERS = (
    LOAD_RACE,
    re.compile(r"references to blobs and/or manifests are missing"),
    # The same rejection as docker push reports it: the manifest's layers were still being
    # written by another push of the same image.
    re.compile(r"PUT request to \S+/manifests/\S+: 400 Bad Request"),
    re.compile(r"\b(500 Internal Server Error|502 Bad Gateway|503 Service Unavailable|504 Gateway Timeout)\b"),
    re.compile(r"\bunexpected status(?: code)?:? 5\d\d\b"),
    re.compile(r"connection reset by peer|TLS handshake timeout|unexpected EOF"),
    # A result BuildKit had a moment ago is gone: the builder's cache was pruned during the build
    # (`docker buildx prune` by another job on a shared engine). A missing file of the context
    # names its path; this names nothing.
    re.compile(r"failed to solve: not found\s*$"),
    # Two loads of images that share layers, while another job's image delete let containerd
    # collect a layer the load was about to build on (four bakes of examples/diamond at once,
    # 2026-11-30): "failed to prepare extraction snapshot ...: parent snapshot sha256:... does
    # not exist: not found". Loading again unpacks the layer again.
    re.compile(r"failed to prepare extraction snapshot .*parent snapshot \S+ does not exist"),
)
ATTEMPTS = 4
"""At most this many tries of one build or push (three retries)."""
BACKOFF = 0.5
"""Seconds before the first retry; doubled for each next one (0.5, 1, 2 s)."""


def reason(text: str) -> str | None:
    """The line of ``text`` that says the failure is transient, or None."""
    for line in text.splitlines():
        if any(m.search(line) for m in _MARKERS):
            return line.strip()
    return None


def pause(attempt: int, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait before retry number ``attempt`` (1, 2, ...)."""
    sleep(BACKOFF * 2 ** (attempt - 1))
