"""Where a stage's input record (stagecache.inputs) is kept: beside the stage's cache.

- ``local`` cache: a file ``stagecache-inputs.json`` in the stage's cache folder (the OCI
  layout BuildKit wrote), so it moves with the cache when a CI cache action saves and
  restores the folder;
- ``registry`` cache: a small OCI artifact (an image manifest whose one layer is the JSON, of
  media type ``application/vnd.stagecache.inputs.v1+json``) at the cache ref's tag with
  ``.inputs`` appended (``app:cache-build`` -> ``app:cache-build.inputs``; a tag that would be
  too long is shortened with a hash of the whole).

A record names the cache it describes (its ``cache`` field: the digest of the local cache's
index.json, or of the registry cache's manifest): a record beside another cache (the cache
was written again without one: a bake that stopped before storing it, another tool) is not
read. It is written only when this bake wrote the cache, never by a read-only bake. Reading one
never fails a bake: a record that cannot be read is as good as none (the miss is then said
to be "unrecorded"). A record also says when it was written (``written``, UTC), which
``stagecache gc --max-age`` reads as the last time its branch wrote a cache.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stagecache import reference
from stagecache.errors import StagecacheError
from stagecache.inputs import StageInputs

if TYPE_CHECKING:  # pragma: no cover
    from stagecache.cache import CacheSpec
    from stagecache.registry import RegistryClient

FILE = "stagecache-inputs.json"
MEDIA_TYPE = "application/vnd.stagecache.inputs.v1+json"
SUFFIX = ".inputs"
_MAX_TAG = 128
_MAX_BYTES = 64 << 20
_WRITTEN = "%Y-%m-%dT%H:%M:%SZ"
"""How a record says when it was written (UTC)."""
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, AttributeError, StagecacheError)


@dataclass(frozen=True)
class Place:
    """Where one stage's cache is (a folder, or a registry ref) and where its record goes."""

    kind: str  # "local" | "registry"
    cache: str
    """The cache folder, or the cache ref (``host/repo:tag``)."""
    where: str
    """The record's file, or its ref."""

    def __str__(self) -> str:
        return self.where

    @property
    def host(self) -> str:
        """The registry's host ("" for a local cache)."""
        return split_ref(self.cache)[0] if self.kind == "registry" else ""


def place_of(spec: CacheSpec | None) -> Place | None:
    """The place for the cache ``spec`` (a stage's cache), or None for a cache that keeps no
    record (inline, classic, none; a registry ref without a tag)."""
    if spec is None:
        return None
    attrs = dict(spec.attrs)
    if spec.type == "local" and attrs.get("src"):
        return Place("local", attrs["src"], str(Path(attrs["src"]) / FILE))
    ref = attrs.get("ref", "") if spec.type == "registry" else ""
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag or "@" in ref:
        return None
    return Place("registry", ref, f"{name}:{record_tag(tag)}")


def record_tag(tag: str) -> str:
    """The tag of the record beside the cache tag ``tag``."""
    if len(tag) + len(SUFFIX) <= _MAX_TAG:
        return tag + SUFFIX
    digest = hashlib.sha256(tag.encode()).hexdigest()[:16]
    return f"{tag[: _MAX_TAG - len(SUFFIX) - len(digest) - 1]}-{digest}{SUFFIX}"


def split_ref(ref: str) -> tuple[str, str, str]:
    """``host/repo/name:tag`` -> (host, repository, tag), with Docker Hub's defaults
    (``app:tag`` -> ``docker.io``, ``library/app``)."""
    name, _, tag = ref.rpartition(":")
    host, repo = reference._split_domain(name)
    if host is None:
        host, repo = "docker.io", repo if "/" in repo else f"library/{repo}"
    return host, repo, tag


def identity(place: Place, client: RegistryClient | None = None) -> str:
    """The digest of the cache as it is now ("" when there is none, or it cannot be read): the
    local cache's index.json, or the registry cache's manifest."""
    try:
        if place.kind == "local":
            return "sha256:" + hashlib.sha256((Path(place.cache) / "index.json").read_bytes()).hexdigest()
        assert client is not None
        _, repo, tag = split_ref(place.cache)
        return client.digest(repo, tag)
    except _UNREADABLE:
        return ""


def stored(place: Place) -> bool:
    """Whether a local cache folder holds a record."""
    return Path(place.where).is_file()


def read(place: Place, stage: str, client: RegistryClient | None = None) -> StageInputs | None:
    """The record of stage ``stage`` stored at ``place``, or None (none stored, unreadable, or
    the record of another stage)."""
    try:
        if place.kind == "local":
            path = Path(place.where)
            if not path.is_file() or path.is_symlink() or path.stat().st_size > _MAX_BYTES:
                return None
            data = path.read_bytes()
        else:
            assert client is not None
            _, repo, tag = split_ref(place.where)
            found = client.artifact(repo, tag, MEDIA_TYPE, _MAX_BYTES)
            if found is None:
                return None
            data = found
        inputs = StageInputs.from_json(json.loads(data))
    except _UNREADABLE:
        return None
    return inputs if inputs.stage == stage else None


def fetch(client: RegistryClient, repository: str, tag: str) -> tuple[StageInputs, float | None] | None:
    """The record at the registry tag ``repository:tag`` and when it was written (seconds since
    the epoch; None in records written before the time was kept), or None when the tag holds
    no record."""
    try:
        found = client.artifact(repository, tag, MEDIA_TYPE, _MAX_BYTES)
        if found is None:
            return None
        doc = json.loads(found)
        inputs = StageInputs.from_json(doc)
    except _UNREADABLE:
        return None
    return inputs, written(doc)


def written(doc: object) -> float | None:
    """When a record (its JSON document) was written, in seconds since the epoch; None when it
    does not say (records written before the time was kept)."""
    try:
        return float(calendar.timegm(time.strptime(str(doc.get("written")), _WRITTEN)))  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        return None


def write(place: Place, inputs: StageInputs, client: RegistryClient | None = None) -> None:
    """Store ``inputs`` at ``place`` (replacing what was there); OSError or a StagecacheError
    when it cannot be."""
    doc = {**inputs.to_json(), "written": time.strftime(_WRITTEN, time.gmtime())}
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    if place.kind == "local":
        path = Path(place.where)
        tmp = path.with_name(FILE + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return
    assert client is not None
    _, repo, tag = split_ref(place.where)
    client.put_artifact(repo, tag, MEDIA_TYPE, data)
