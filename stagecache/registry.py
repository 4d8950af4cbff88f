"""A small client for the registry HTTP API (distribution v2): list tags, read
manifests, sum blob sizes. Used to check what a bake pushed and how much a
cache occupies. Plain HTTP is used for loopback registries only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


@dataclass(frozen=True)
class RepoRef:
    """``host[:port]/path:tag`` split into registry host, repository path and tag."""

    host: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, ref: str) -> RepoRef:
        """Split an image reference that names its registry host."""
        name, _, tag = ref.rpartition(":")
        if "/" in tag or not name:
            name, tag = ref, "latest"
        host, _, repo = name.partition("/")
        return cls(host, repo, tag)


class RegistryClient:
    """Talks to one registry over HTTP."""

    def __init__(self, host: str, timeout: float = 10.0) -> None:
        self.host = host
        self.timeout = timeout
        scheme = "http" if host.startswith(("127.", "localhost")) else "https"
        self.base = f"{scheme}://{host}/v2"

    def _get(self, path: str, accept: str | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
        req = urllib.request.Request(self.base + path, method=method)
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers or {}), b""

    def ping(self) -> bool:
        """Whether the registry answers at all."""
        try:
            status, _, _ = self._get("/")
        except OSError:
            return False
        return status in (200, 401)

    def tags(self, repository: str) -> list[str]:
        """Tags of ``repository`` (empty when it does not exist)."""
        status, _, body = self._get(f"/{repository}/tags/list")
        if status != 200:
            return []
        return sorted(json.loads(body).get("tags") or [])

    def manifest(self, repository: str, reference: str) -> dict | None:
        """The manifest (or index) of ``repository:reference``, or None."""
        status, headers, body = self._get(f"/{repository}/manifests/{reference}", accept=_ACCEPT)
        if status != 200:
            return None
        data = json.loads(body)
        data["_digest"] = headers.get("Docker-Content-Digest", "")
        return data

    def delete_tag(self, repository: str, tag: str) -> bool:
        """Delete the manifest ``repository:tag`` points to. False when the registry refuses
        (deletes are disabled unless the registry is configured to allow them)."""
        status, headers, _ = self._get(f"/{repository}/manifests/{tag}", accept=_ACCEPT, method="HEAD")
        digest = headers.get("Docker-Content-Digest")
        if status != 200 or not digest:
            return status == 404
        status, _, _ = self._get(f"/{repository}/manifests/{digest}", method="DELETE")
        return status in (200, 202, 404)

    def size(self, repository: str) -> int:
        """Bytes of every distinct blob reachable from any tag of ``repository``."""
        blobs: dict[str, int] = {}
        for tag in self.tags(repository):
            blobs.update(self.blob_digests(repository, tag))
        return sum(blobs.values())

    def blob_digests(self, repository: str, reference: str) -> dict[str, int]:
        """Every blob reachable from a tag (through indexes), digest -> size."""
        out: dict[str, int] = {}
        todo = [reference]
        seen: set[str] = set()
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            m = self.manifest(repository, ref)
            if m is None:
                continue
            for child in m.get("manifests") or []:
                todo.append(child["digest"])
            for blob in [m.get("config") or {}, *(m.get("layers") or [])]:
                if blob.get("digest"):
                    out[blob["digest"]] = int(blob.get("size", 0))
        return out
