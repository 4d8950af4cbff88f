"""Where a stage's input manifest (stagecache.inputs) is kept: beside the stage's cache.

- ``local`` cache: a file ``stagecache-inputs.json`` in the stage's cache folder (the OCI
  layout BuildKit wrote), so it moves with the cache when a CI cache action saves and
  restores the folder;
- ``registry`` cache: a small OCI artifact (an image manifest whose one layer is the JSON, of
  media type ``application/vnd.stagecache.inputs.v1+json``) at the cache ref's tag with
  ``.inputs`` appended (``app:cache-build`` -> ``app:cache-build.inputs``).

It is written only when the stage's cache is, never by a read-only bake. Reading one never
fails a bake: a manifest that cannot be read is as good as none (the miss is then said to be
"unrecorded").
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stagecache.inputs import StageInputs

if TYPE_CHECKING:  # pragma: no cover
    from stagecache.cache import CacheSpec
    from stagecache.registry import RegistryClient

FILE = "stagecache-inputs.json"
MEDIA_TYPE = "application/vnd.stagecache.inputs.v1+json"
SUFFIX = ".inputs"
_MAX_BYTES = 64 << 20


@dataclass(frozen=True)
class Place:
    """Where one stage's manifest lives: a local cache folder, or a registry ref."""

    kind: str  # "local" | "registry"
    where: str

    def __str__(self) -> str:
        return str(Path(self.where) / FILE) if self.kind == "local" else self.where


def place_of(spec: CacheSpec | None) -> Place | None:
    """The place for the cache ``spec`` (a stage's own cache), or None for a cache that keeps
    no manifest (inline, classic, none)."""
    if spec is None:
        return None
    attrs = dict(spec.attrs)
    if spec.type == "local" and attrs.get("src"):
        return Place("local", attrs["src"])
    if spec.type == "registry" and attrs.get("ref"):
        ref = attrs["ref"]
        name, _, tag = ref.rpartition(":")
        if "/" in tag or not name or "@" in ref:
            return None  # a ref without a tag (or by digest): no tag to put the manifest beside
        return Place("registry", f"{name}:{(tag + SUFFIX)[-128:].lstrip('.-')}")
    return None


def split_ref(ref: str) -> tuple[str, str, str]:
    """``host/repo/name:tag`` -> (host, repository, tag)."""
    name, _, tag = ref.rpartition(":")
    host, _, repo = name.partition("/")
    return host, repo, tag


def read(place: Place, client: RegistryClient | None = None) -> StageInputs | None:
    """The manifest stored at ``place``, or None (none stored, or unreadable)."""
    try:
        if place.kind == "local":
            path = Path(place.where) / FILE
            if not path.is_file() or path.is_symlink() or path.stat().st_size > _MAX_BYTES:
                return None
            data = path.read_bytes()
        else:
            assert client is not None
            _, repo, tag = split_ref(place.where)
            found = client.artifact(repo, tag, MEDIA_TYPE)
            if found is None:
                return None
            data = found
        return StageInputs.from_json(json.loads(data))
    except (OSError, ValueError):
        return None


def stored(place: Place) -> bool:
    """Whether a local cache folder holds a record."""
    return (Path(place.where) / FILE).is_file()


def index_digest(place: Place) -> str:
    """The digest of a local cache's index.json ("" when there is none): it changes exactly
    when a new cache is swapped in."""
    try:
        return hashlib.sha256((Path(place.where) / "index.json").read_bytes()).hexdigest()
    except OSError:
        return ""


def write(place: Place, inputs: StageInputs, client: RegistryClient | None = None) -> None:
    """Store ``inputs`` at ``place`` (replacing what was there); OSError when it cannot be."""
    data = json.dumps(inputs.to_json(), sort_keys=True, separators=(",", ":")).encode()
    if place.kind == "local":
        folder = Path(place.where)
        tmp = folder / (FILE + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, folder / FILE)
        return
    assert client is not None
    _, repo, tag = split_ref(place.where)
    client.put_artifact(repo, tag, MEDIA_TYPE, data)
