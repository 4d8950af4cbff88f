"""A small client for the registry HTTP API (distribution v2): list tags, read
manifests, sum blob sizes. Used to check what a bake pushed and how much a
cache occupies. Plain HTTP is used for loopback registries only."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


_MANIFEST_TYPES = frozenset(_ACCEPT.split(", "))


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


def docker_credentials(host: str, env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """The (username, secret) docker would use for ``host``: from ``$DOCKER_CONFIG/config.json``
    (``auths``), or its credential helper (``credHelpers`` / ``credsStore``). None if there are none."""
    env = os.environ if env is None else env
    folder = Path(env.get("DOCKER_CONFIG") or Path(env.get("HOME", "~")).expanduser() / ".docker")
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    helper = (data.get("credHelpers") or {}).get(host) or data.get("credsStore")
    if helper:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", helper):
            return None
        try:
            out = subprocess.run(
                [f"docker-credential-{helper}", "get"], input=host, capture_output=True, text=True, timeout=10
            )
            if out.returncode == 0:
                creds = json.loads(out.stdout)
                return creds.get("Username", ""), creds.get("Secret", "")
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    entry = (data.get("auths") or {}).get(host) or (data.get("auths") or {}).get(f"https://{host}")
    if not entry or not entry.get("auth"):
        return None
    try:
        user, _, secret = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, secret


@dataclass(frozen=True)
class PushCheck:
    """Whether the credentials may push to a repository (found by starting, then cancelling,
    a blob upload: nothing is pushed)."""

    ok: bool
    status: int
    detail: str


class RegistryClient:
    """Talks to one registry over HTTP, with docker's credentials when given (basic auth,
    or the bearer-token flow the registry's challenge asks for)."""

    def __init__(self, host: str, timeout: float = 10.0, credentials: tuple[str, str] | None = None) -> None:
        self.host = host
        self.timeout = timeout
        self.credentials = credentials
        scheme = "http" if host.startswith(("127.", "localhost")) else "https"
        self.base = f"{scheme}://{host}/v2"
        self._tokens: dict[str, str] = {}

    def _basic(self) -> str:
        user, secret = self.credentials or ("", "")
        return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()

    def _get(
        self, path: str, accept: str | None = None, method: str = "GET", scope: str = ""
    ) -> tuple[int, dict, bytes]:
        url = path if path.startswith("http") else self.base + path
        status, headers, body = self._request(url, accept, method, self._tokens.get(scope))
        if status == 401 and self.credentials is not None:
            auth = self._authorize(headers.get("WWW-Authenticate") or headers.get("Www-Authenticate") or "", scope)
            if auth:
                status, headers, body = self._request(url, accept, method, auth)
        return status, headers, body

    def _request(self, url: str, accept: str | None, method: str, auth: str | None) -> tuple[int, dict, bytes]:
        req = urllib.request.Request(url, method=method)
        if accept:
            req.add_header("Accept", accept)
        if auth:
            req.add_header("Authorization", auth)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers or {}), b""

    def _authorize(self, challenge: str, scope: str) -> str | None:
        """The Authorization header a 401 challenge asks for (never logged)."""
        kind, _, params = challenge.partition(" ")
        if kind.lower() == "basic":
            self._tokens[scope] = self._basic()
            return self._tokens[scope]
        if kind.lower() != "bearer":
            return None
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.pop("realm", "")
        if not realm:
            return None
        query = {k: v for k, v in fields.items() if k == "service"}
        if scope:
            query["scope"] = scope
        req = urllib.request.Request(realm + "?" + urllib.parse.urlencode(query))
        req.add_header("Authorization", self._basic())
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = json.loads(resp.read())
        except (OSError, ValueError):
            return None
        token = data.get("token") or data.get("access_token")
        if not token:
            return None
        self._tokens[scope] = f"Bearer {token}"
        return self._tokens[scope]

    def check_push(self, repository: str) -> PushCheck:
        """Start a blob upload to ``repository`` and cancel it: proves push access, pushes nothing."""
        scope = f"repository:{repository}:pull,push"
        status, headers, _ = self._get(f"/{repository}/blobs/uploads/", method="POST", scope=scope)
        if status == 202:
            location = headers.get("Location", "")
            if location:
                if location.startswith("/"):
                    location = self.base[: -len("/v2")] + location
                self._get(location, method="DELETE", scope=scope)
            return PushCheck(True, status, "push allowed")
        if status == 401:
            detail = "unauthorized: no credentials" if self.credentials is None else "unauthorized: credentials refused"
            return PushCheck(False, status, detail)
        if status == 403:
            return PushCheck(False, status, "denied: these credentials may not push to this repository")
        return PushCheck(False, status, f"unexpected HTTP {status}")

    def ping(self) -> bool:
        """Whether the registry answers at all."""
        try:
            status, _, _ = self._get("/")
        except OSError:
            return False
        return status in (200, 401)

    def tags(self, repository: str) -> list[str]:
        """Tags of ``repository`` (empty when it does not exist)."""
        status, _, body = self._get(f"/{repository}/tags/list", scope=f"repository:{repository}:pull")
        if status != 200:
            return []
        return sorted(json.loads(body).get("tags") or [])

    def manifest(self, repository: str, reference: str) -> dict | None:
        """The manifest (or index) of ``repository:reference``, or None."""
        status, headers, body = self._get(
            f"/{repository}/manifests/{reference}", accept=_ACCEPT, scope=f"repository:{repository}:pull"
        )
        if status != 200:
            return None
        data = json.loads(body)
        data["_digest"] = headers.get("Docker-Content-Digest", "")
        return data

    def delete_tag(self, repository: str, tag: str) -> bool:
        """Delete the manifest ``repository:tag`` points to. False when the registry refuses
        (deletes are disabled unless the registry is configured to allow them)."""
        scope = f"repository:{repository}:pull,push,delete"
        status, headers, _ = self._get(f"/{repository}/manifests/{tag}", accept=_ACCEPT, method="HEAD", scope=scope)
        digest = headers.get("Docker-Content-Digest")
        if status != 200 or not digest:
            return status == 404
        status, _, _ = self._get(f"/{repository}/manifests/{digest}", method="DELETE", scope=scope)
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
                # An image index lists manifests; BuildKit's cache index lists its layer blobs
                # (and its cache config) there directly.
                if child.get("mediaType", "") in _MANIFEST_TYPES:
                    todo.append(child["digest"])
                elif child.get("digest"):
                    out[child["digest"]] = int(child.get("size", 0))
            for blob in [m.get("config") or {}, *(m.get("layers") or [])]:
                if blob.get("digest"):
                    out[blob["digest"]] = int(blob.get("size", 0))
        return out
