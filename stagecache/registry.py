"""A small client for the registry HTTP API (distribution v2): list tags, read
manifests, sum blob sizes, check push access. Used to check what a bake pushed and
how much a cache occupies.

Credentials (see docs/security.md, "Credentials"): they come from the docker config
or its credential helper, exactly where docker would find them; they go only to the
registry's own origin and to a bearer-token realm that is https (or plain http on the
registry's own loopback host); a redirect to another origin never carries them; plain
HTTP is used for loopback registries only. No secret is ever put in a message or repr.

httpx is imported inside the methods that talk HTTP, so that importing this module
(as ``doctor`` and ``bench`` do) costs nothing until a request is made."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from stagecache.errors import EnvironmentProblem, RegistryError

_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

MANIFEST_TYPES = frozenset(_ACCEPT.split(", "))
"""The media types of an image manifest or index (what a cache ref points to)."""

DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
"""Names that all mean Docker Hub."""
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
"""The key ``docker login`` stores Docker Hub credentials under (and gives credential helpers)."""
_DOCKER_HUB_API = "registry-1.docker.io"
_HELPER_NOT_FOUND = "credentials not found in native keychain"
"""What a credential helper prints (exit 1) when it has nothing for the server: docker reads it
as "no credentials", not as an error (docker-credential-helpers, credentials/error.go)."""
_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HELPER_TIMEOUT = 30.0


class RegistryAccessError(RegistryError, OSError):
    """The registry could not be reached or asked for something stagecache refuses to do.
    An OSError too, so callers that treat network failures as "unreachable" keep working."""


class BearerRealmRefused(RegistryAccessError):
    """The registry asked for credentials to be sent to a token realm that may not get them."""


class CredentialsError(EnvironmentProblem):
    """The docker config or its credential helper could not give the credentials (exit 3).
    The message names the file, the helper and the host; never the secret."""


class Credentials(NamedTuple):
    """(username, secret) for a registry. A tuple, but its repr hides the secret."""

    username: str
    secret: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, secret='***')"


# -- hosts and schemes ---------------------------------------------------------------------------


def split_host(host: str) -> tuple[str, str]:
    """``host[:port]`` -> (hostname, port); IPv6 in brackets (``[::1]:5000``) or bare (``::1``).
    The hostname comes back without brackets; port is "" when there is none."""
    h = host.strip()
    if h.startswith("["):
        end = h.find("]")
        rest = h[end + 1 :] if end > 0 else None
        if rest == "" or (rest and rest[0] == ":" and rest[1:].isdigit()):
            return h[1:end], rest[1:]
        return h, ""
    if h.count(":") > 1:  # a bare IPv6 address has no port
        return h, ""
    name, sep, port = h.partition(":")
    if sep and port.isdigit():
        return name, port
    return h, ""


def is_loopback_host(host: str) -> bool:
    """Whether ``host[:port]`` is this machine's loopback: an IPv4 address in 127.0.0.0/8,
    the IPv6 address ::1, or exactly ``localhost`` (any case). ``localhost.example.com``
    and ``127.0.0.1.nip.io`` are names like any other, resolved by DNS: not loopback."""
    name, _ = split_host(host)
    if name.lower() == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    if addr.version == 4:
        return addr in ipaddress.IPv4Network("127.0.0.0/8")
    return addr == ipaddress.IPv6Address("::1")


def scheme_for(host: str) -> str:
    """``http`` for a loopback registry (see ``is_loopback_host``), ``https`` for every other."""
    return "http" if is_loopback_host(host) else "https"


def _host_key(name: str) -> str:
    """A hostname to compare: lower case, no brackets, IP addresses in canonical form."""
    name = name.strip("[]").lower()
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def check_bearer_realm(realm: str, registry_host: str) -> None:
    """Raise BearerRealmRefused unless the credentials for ``registry_host`` may go to the
    bearer-token ``realm`` its challenge names: an https URL, or plain http on the registry's
    own loopback host (a local registry with a local token server). Anything else would hand
    them to another host in clear text, or to whoever a bad challenge names."""
    parts = urllib.parse.urlsplit(realm)
    scheme = parts.scheme.lower()
    try:
        realm_host = parts.hostname or ""
    except ValueError:
        realm_host = ""
    if scheme == "https" and realm_host:
        return
    if scheme == "http" and realm_host:
        registry_name, _ = split_host(registry_host)
        if is_loopback_host(registry_host) and _host_key(realm_host) == _host_key(registry_name):
            return
        if is_loopback_host(f"[{realm_host}]" if ":" in realm_host else realm_host):
            why = f"it is plain http on {realm_host}, which is not the registry's own host"
        else:
            why = f"it is plain http to {realm_host}, so they would cross the network unencrypted"
    else:
        why = "it is not an https URL"
    raise BearerRealmRefused(
        f"refused to send the credentials for {registry_host} to the bearer token realm {realm!r}: {why}. "
        "Only an https realm, or plain http on the registry's own loopback host, gets them"
    )


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the port defaulted: what a same-origin check compares."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
        host = parts.hostname or ""
    except ValueError:
        return (scheme, "", None)
    return (scheme, _host_key(host), port or {"http": 80, "https": 443}.get(scheme))


# -- docker config and credential helpers --------------------------------------------------------


def docker_server_address(host: str) -> str:
    """The name docker files the credentials of ``host`` under: ``https://index.docker.io/v1/``
    for Docker Hub (docker.io, index.docker.io, registry-1.docker.io), else ``host`` itself."""
    return DOCKER_HUB_SERVER if host.lower() in DOCKER_HUB_HOSTS else host


def _convert_to_hostname(key: str) -> str:
    """docker's ConvertToHostname: ``https://reg.example.com:5000/v1/`` -> ``reg.example.com:5000``
    (cli/config/credentials/file_store.go), so old-style ``auths`` keys still match."""
    if "://" in key:
        netloc = urllib.parse.urlsplit(key).netloc.rpartition("@")[2]
        if netloc:
            name, port = split_host(netloc)
            if not port:
                return name
            return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
    return key.partition("/")[0]


def docker_credentials(host: str, env: Mapping[str, str] | None = None) -> Credentials | None:
    """The (username, secret) docker would use for ``host``, found as docker finds them
    (cli/config/configfile/file.go): ``credHelpers[<server>]`` if that key exists, else
    ``credsStore``, runs ``docker-credential-<name> get`` with the server on stdin; with no
    helper, ``auths`` in ``$DOCKER_CONFIG/config.json`` (default ``~/.docker``). The server is
    ``https://index.docker.io/v1/`` for Docker Hub and ``host`` otherwise.

    None when docker would have no credentials either: no config file, no entry, or a helper
    that answers "credentials not found". Raises CredentialsError (naming the file, helper and
    host, never the secret) when docker would fail: unreadable config, a helper name that is not
    a plain program name, a helper missing from PATH, failing, or printing something else than
    its JSON answer, an ``auth`` entry that does not decode."""
    env = os.environ if env is None else env
    folder = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else Path(env.get("HOME") or "~") / ".docker"
    path = folder.expanduser() / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read the docker config {path}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CredentialsError(f"the docker config {path} is not valid JSON ({exc}); fix or remove it") from None
    if not isinstance(data, dict):
        raise CredentialsError(f"the docker config {path} is not a JSON object; fix or remove it")
    server = docker_server_address(host)
    helpers = data.get("credHelpers")
    if isinstance(helpers, dict) and server in helpers:
        helper, source = helpers[server], f"credHelpers[{server!r}]"
    else:
        helper, source = data.get("credsStore"), "credsStore"
    if helper:
        return _from_helper(helper, source, server, host, path, env)
    return _from_auths(data.get("auths"), server, host, path)


def _from_helper(
    helper: Any, source: str, server: str, host: str, config: Path, env: Mapping[str, str]
) -> Credentials | None:
    if not isinstance(helper, str) or not _HELPER_NAME.fullmatch(helper):
        raise CredentialsError(
            f"{config}: {source} names the credential helper {helper!r} for {host}, which is not a plain "
            "program name (letters, digits, '.', '_', '-', not starting with '-'); refusing to run it"
        )
    program = f"docker-credential-{helper}"
    where = f"credential helper {program} ({source} in {config}) for {host}"
    exe = shutil.which(program, path=env.get("PATH", os.defpath))
    if exe is None:
        raise CredentialsError(f"{where} is not on PATH; install it, or remove {source} from the config")
    try:
        done = subprocess.run(
            [exe, "get"], input=server.encode(), capture_output=True, timeout=_HELPER_TIMEOUT, env=dict(env)
        )
    except subprocess.TimeoutExpired:
        raise CredentialsError(f"{where} did not answer within {_HELPER_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise CredentialsError(f"{where} could not be run: {exc.strerror or exc}") from None
    # The helper's output is never quoted below: a misbehaving helper may well print the secret.
    out = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        if out == _HELPER_NOT_FOUND:
            return None
        raise CredentialsError(
            f"{where} failed (exit {done.returncode}); run `printf {server} | {program} get` to see its message"
        )
    try:
        answer = json.loads(out)
    except ValueError:
        answer = None
    if (
        not isinstance(answer, dict)
        or not isinstance(answer.get("Username", ""), str)
        or not isinstance(answer.get("Secret", ""), str)
    ):
        raise CredentialsError(
            f"{where} did not print the JSON object docker expects "
            '({"Username": ..., "Secret": ...}); its output is not shown, as it may hold the secret'
        )
    user, secret = answer.get("Username", ""), answer.get("Secret", "")
    if not user and not secret:
        return None
    return Credentials(user, secret)


def _from_auths(auths: Any, server: str, host: str, config: Path) -> Credentials | None:
    if not isinstance(auths, dict):
        return None
    entry = auths.get(server)
    if entry is None:
        entry = next((v for k, v in auths.items() if _convert_to_hostname(k) == server), None)
    encoded = entry.get("auth") if isinstance(entry, dict) else None
    if not encoded:
        return None
    login = "docker login" if server == DOCKER_HUB_SERVER else f"docker login {host}"
    bad = CredentialsError(
        f"{config}: the 'auth' entry for {host} ({server}) is not base64 of 'username:password'; run `{login}` again"
    )
    try:
        user, sep, secret = (
            base64.b64decode("".join(str(encoded).split()), validate=True).decode("utf-8").partition(":")
        )
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise bad from None
    if not sep or not user:
        raise bad
    return Credentials(user, secret.strip("\x00"))


# -- the registry client -------------------------------------------------------------------------


class Reach(NamedTuple):
    """What a tag reaches: its own manifest (with its digest under ``_digest``; None when it
    could not be read), the digests of the manifests under it (an index's), and every blob,
    digest -> size."""

    manifest: dict | None
    manifests: set[str]
    blobs: dict[str, int]


@dataclass(frozen=True)
class PushCheck:
    """Whether the credentials may push to a repository (found by starting, then cancelling,
    a blob upload: nothing is pushed)."""

    ok: bool
    status: int
    detail: str


class RegistryClient:
    """Talks to one registry over HTTP, with docker's credentials when given (basic auth,
    or the bearer-token flow the registry's challenge asks for).

    Credentials are sent only to the registry's own origin (scheme, host, port) and, through
    ``check_bearer_realm``, to the token realm; httpx drops the Authorization header when a
    redirect leaves the origin. A challenge that comes from another origin (the registry
    redirected elsewhere, and that host answered 401) is not answered."""

    def __init__(self, host: str, timeout: float = 10.0, credentials: tuple[str, str] | None = None) -> None:
        self.host = host
        self.timeout = timeout
        self.credentials = Credentials(*credentials) if credentials is not None else None
        api = _DOCKER_HUB_API if host.lower() in DOCKER_HUB_HOSTS else host
        self.base = f"{scheme_for(host)}://{api}/v2"
        self._origin = _origin(self.base)
        self._tokens: dict[str, str] = {}
        self._client: Any = None

    def __repr__(self) -> str:
        who = "anonymous" if self.credentials is None else f"user {self.credentials.username!r}"
        return f"RegistryClient({self.base!r}, {who})"

    def close(self) -> None:
        """Close the HTTP connections (a new request opens them again)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _http(self) -> Any:
        if self._client is None:
            import ssl

            import httpx

            # The system trust store, as urllib used: a company registry's CA installed on the
            # CI machine keeps working (httpx alone would trust only certifi's bundle).
            # trust_env: HTTPS_PROXY / NO_PROXY apply, as they did, except to a registry on this
            # machine: docker (Go's net/http) never sends loopback traffic through a proxy, and a
            # proxy would see the credentials of a plain-http registry. SSL_CERT_FILE applies
            # either way (the default context reads it).
            self._client = httpx.Client(
                timeout=self.timeout,
                follow_redirects=True,
                verify=ssl.create_default_context(),
                trust_env=not is_loopback_host(self.host),
            )
        return self._client

    def _basic(self) -> str:
        user, secret = self.credentials or ("", "")
        return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base + path

    def _get(
        self,
        path: str,
        accept: str | None = None,
        method: str = "GET",
        scope: str = "",
        body: tuple[str, bytes] | None = None,
    ) -> tuple[int, Any, bytes]:
        """One request (``body``: its content type and bytes), answering a 401 challenge once.
        Returns (status, headers, body); the headers are case-insensitive."""
        url = self._url(path)
        own = _origin(url) == self._origin
        resp = self._request(url, accept, method, self._tokens.get(scope) if own else None, body)
        if resp.status_code == 401 and self.credentials is not None and own and _origin(str(resp.url)) == self._origin:
            auth = self._authorize(resp.headers.get("WWW-Authenticate", ""), scope)
            if auth:
                resp = self._request(url, accept, method, auth, body)
        return resp.status_code, resp.headers, resp.content

    def _request(
        self, url: str, accept: str | None, method: str, auth: str | None, body: tuple[str, bytes] | None = None
    ) -> Any:
        import httpx

        headers = {}
        if accept:
            headers["Accept"] = accept
        if auth:
            headers["Authorization"] = auth
        if body is not None:
            headers["Content-Type"] = body[0]
        try:
            return self._http().request(method, url, headers=headers, content=body[1] if body else None)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # "from None": httpx's exception holds the request, Authorization header included.
            raise RegistryAccessError(f"{self.host}: {method} {url}: {str(exc) or type(exc).__name__}") from None

    def _authorize(self, challenge: str, scope: str) -> str | None:
        """The Authorization header a 401 challenge asks for (never logged)."""
        kind, _, params = challenge.strip().partition(" ")
        if kind.lower() == "basic":
            self._tokens[scope] = self._basic()
            return self._tokens[scope]
        if kind.lower() != "bearer":
            return None
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.pop("realm", "")
        if not realm:
            return None
        check_bearer_realm(realm, self.host)
        query = [(k, v) for k, v in fields.items() if k == "service"]
        if scope:
            query.append(("scope", scope))
        parts = urllib.parse.urlsplit(realm)
        merged = "&".join(q for q in (parts.query, urllib.parse.urlencode(query)) if q)
        import httpx

        try:
            resp = self._http().get(parts._replace(query=merged).geturl(), headers={"Authorization": self._basic()})
            data = resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise RegistryAccessError(
                f"{self.host}: bearer token realm {realm}: {str(exc) or type(exc).__name__}"
            ) from None
        except ValueError:
            return None
        token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
        if not token or not isinstance(token, str):
            return None
        self._tokens[scope] = f"Bearer {token}"
        return self._tokens[scope]

    def check_push(self, repository: str) -> PushCheck:
        """Start a blob upload to ``repository`` and cancel it: proves push access, pushes nothing."""
        scope = f"repository:{repository}:pull,push"
        uploads = self._url(f"/{repository}/blobs/uploads/")
        try:
            status, headers, _ = self._get(uploads, method="POST", scope=scope)
        except BearerRealmRefused as exc:
            return PushCheck(False, 401, exc.message)
        if status == 202:
            location = headers.get("Location", "")
            if location:
                # Resolved against the registry; the upload is cancelled with credentials only
                # when it is on the registry's own origin (see _get).
                self._get(urllib.parse.urljoin(uploads, location), method="DELETE", scope=scope)
            return PushCheck(True, status, "push allowed")
        if status == 401:
            detail = "unauthorized: no credentials" if self.credentials is None else "unauthorized: credentials refused"
            return PushCheck(False, status, detail)
        if status == 403:
            return PushCheck(False, status, "denied: these credentials may not push to this repository")
        return PushCheck(False, status, f"unexpected HTTP {status}")

    def ping(self) -> bool:
        """Whether the registry answers at all (sends no credentials: a 401 is an answer)."""
        try:
            status = self._request(self.base + "/", None, "GET", None).status_code
        except OSError:
            return False
        return status in (200, 401)

    def tags(self, repository: str, page: int = 1000) -> list[str]:
        """Tags of ``repository`` (empty when it does not exist), every page of them: the
        registry may answer ``n`` tags at a time, with a ``Link: <...>; rel="next"`` header
        to the next page (distribution's pagination, which GHCR and others follow)."""
        scope = f"repository:{repository}:pull"
        found: list[str] = []
        url = self._url(f"/{repository}/tags/list?n={page}")
        fetched: set[str] = set()
        while True:
            if url in fetched or len(fetched) >= 100_000:  # a registry that links back, or on forever
                raise RegistryError(f"{self.host}/{repository}: the tag list links back to a page it sent: {url}")
            fetched.add(url)
            status, headers, body = self._get(url, scope=scope)
            if status == 404 and not found:
                return []  # no such repository (yet)
            if status != 200:
                raise RegistryError(
                    f"{self.host}/{repository}: listing the tags failed{' part-way' if found else ''}: HTTP {status}"
                )
            try:
                page_tags = [str(t) for t in json.loads(body).get("tags") or []]
            except (ValueError, AttributeError):
                raise RegistryError(f"{self.host}/{repository}: the tag list is not JSON") from None
            known = len(set(found))
            found.extend(page_tags)
            nxt = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', str(headers.get("Link", "")))
            if nxt is None:
                return sorted(set(found))
            if len(set(found)) == known:  # a next page after one that added nothing
                raise RegistryError(f"{self.host}/{repository}: the tag list links back to a page it sent: {url}")
            url = urllib.parse.urljoin(url, nxt.group(1))
            if _origin(url) != self._origin:
                raise RegistryError(f"{self.host}/{repository}: the tag list's next page is on another host: {url}")

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

    def _head(self, repository: str, reference: str) -> tuple[int, Any]:
        """The status and headers of a HEAD request for the manifest ``repository:reference``."""
        status, headers, _ = self._get(
            f"/{repository}/manifests/{reference}", accept=_ACCEPT, method="HEAD", scope=f"repository:{repository}:pull"
        )
        return status, headers

    def digest(self, repository: str, reference: str) -> str:
        """The digest of the manifest ``repository:reference`` points to ("" when none)."""
        status, headers = self._head(repository, reference)
        return str(headers.get("Docker-Content-Digest", "")) if status == 200 else ""

    def absent(self, repository: str, reference: str) -> bool:
        """Whether the registry answers that ``repository:reference`` does not exist (HTTP 404),
        not merely that it cannot be read (401, 429, 5xx: :meth:`digest` says "" for those too)."""
        return self._head(repository, reference)[0] == 404

    def copy_manifest(self, repository: str, reference: str, tag: str) -> str:
        """Put the manifest (or index) at ``repository:reference`` under ``tag`` in the same
        repository, byte for byte (so with the same digest; its blobs are already there);
        its digest. RegistryError when it cannot be read or is refused."""
        scope = f"repository:{repository}:pull,push"
        status, headers, body = self._get(f"/{repository}/manifests/{reference}", accept=_ACCEPT, scope=scope)
        if status != 200:
            raise RegistryError(f"{self.host}/{repository}@{reference}: the manifest could not be read: HTTP {status}")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(
                f"{self.host}/{repository}@{reference}: the registry sent a manifest of digest {digest}"
            )
        try:
            media = str(json.loads(body).get("mediaType") or "")
        except (ValueError, AttributeError):
            media = ""
        media = media or str(headers.get("Content-Type", "")).split(";")[0] or _OCI_MANIFEST
        status, _, said = self._get(f"/{repository}/manifests/{tag}", method="PUT", scope=scope, body=(media, body))
        if status != 201:
            raise RegistryError(
                f"{self.host}/{repository}:{tag}: the registry refused the manifest: HTTP {status} {said[:200]!r}"
            )
        return digest

    def artifact(self, repository: str, tag: str, media_type: str, max_bytes: int = 64 << 20) -> bytes | None:
        """The one layer of type ``media_type`` of the artifact at ``repository:tag`` (see
        :meth:`put_artifact`), checked against its digest; None when there is none, or it is
        larger than ``max_bytes``."""
        m = self.manifest(repository, tag)
        layers = m.get("layers") if isinstance(m, dict) else None
        layer = next((x for x in layers or [] if isinstance(x, dict) and x.get("mediaType") == media_type), None)
        if layer is None or not isinstance(layer.get("digest"), str) or int(layer.get("size") or 0) > max_bytes:
            return None
        return self.blob(repository, layer["digest"])

    def blob(self, repository: str, digest: str) -> bytes | None:
        """The blob ``digest`` of ``repository``, checked against its digest; None when the
        registry has none (or sent other bytes)."""
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            return None
        status, _, data = self._get(f"/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull")
        if status != 200 or "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return None
        return data

    def put_artifact(self, repository: str, tag: str, media_type: str, data: bytes) -> None:
        """Push ``data`` as a small OCI artifact at ``repository:tag``: an image manifest with
        the empty config and one layer of type ``media_type``. RegistryError when refused."""
        scope = f"repository:{repository}:pull,push"
        layer = self._put_blob(repository, data, scope)
        config = self._put_blob(repository, b"{}", scope)
        manifest = {
            "schemaVersion": 2,
            "mediaType": _OCI_MANIFEST,
            "artifactType": media_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": media_type, "digest": layer, "size": len(data)}],
        }
        status, _, said = self._get(
            f"/{repository}/manifests/{tag}",
            method="PUT",
            scope=scope,
            body=(_OCI_MANIFEST, json.dumps(manifest).encode()),
        )
        if status != 201:
            raise RegistryError(
                f"{self.host}/{repository}:{tag}: the registry refused the manifest: HTTP {status} {said[:200]!r}"
            )

    def _put_blob(self, repository: str, data: bytes, scope: str) -> str:
        """Upload ``data`` as one blob (a monolithic upload); its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, _, _ = self._get(f"/{repository}/blobs/{digest}", method="HEAD", scope=scope)
        if status == 200:
            return digest
        uploads = self._url(f"/{repository}/blobs/uploads/")
        status, headers, said = self._get(uploads, method="POST", scope=scope)
        location = headers.get("Location", "") if status == 202 else ""
        if location:
            target = urllib.parse.urljoin(uploads, location)
            target += ("&" if "?" in target else "?") + urllib.parse.urlencode({"digest": digest})
            status, _, said = self._get(target, method="PUT", scope=scope, body=("application/octet-stream", data))
            if status == 201:
                return digest
        raise RegistryError(
            f"{self.host}/{repository}: the registry refused a blob upload: HTTP {status} {said[:200]!r}"
        )

    def delete_manifest(self, repository: str, digest: str) -> int:
        """Delete the manifest ``digest`` (every tag that points to it goes with it); the HTTP
        status: 202 deleted, 404 not there, 405 deletes disabled, 401/403 not allowed."""
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise ValueError(f"not a manifest digest: {digest!r}")
        scope = f"repository:{repository}:pull,push,delete"
        status, _, _ = self._get(f"/{repository}/manifests/{digest}", method="DELETE", scope=scope)
        return status

    def deletes_allowed(self, repository: str) -> int:
        """Whether ``repository`` takes manifest deletes, asked without deleting anything: the
        delete of a digest no manifest has. The HTTP status: 404 (allowed, nothing there),
        405 (deletes disabled), 401/403 (these credentials may not delete)."""
        return self.delete_manifest(repository, "sha256:" + "0" * 64)

    def delete_tag(self, repository: str, tag: str) -> bool:
        """Delete the manifest ``repository:tag`` points to. False when the registry refuses
        (deletes are disabled unless the registry is configured to allow them)."""
        scope = f"repository:{repository}:pull,push,delete"
        status, headers, _ = self._get(f"/{repository}/manifests/{tag}", accept=_ACCEPT, method="HEAD", scope=scope)
        digest = str(headers.get("Docker-Content-Digest") or "")
        if status != 200 or not digest:
            return status == 404
        return self.delete_manifest(repository, digest) in (200, 202, 404)

    def size(self, repository: str) -> int:
        """Bytes of every distinct blob reachable from any tag of ``repository``."""
        blobs: dict[str, int] = {}
        for tag in self.tags(repository):
            blobs.update(self.blob_digests(repository, tag))
        return sum(blobs.values())

    def blob_digests(self, repository: str, reference: str) -> dict[str, int]:
        """Every blob reachable from a tag (through indexes), digest -> size."""
        return self.reachable(repository, reference).blobs

    def reachable(self, repository: str, reference: str, strict: bool = False) -> Reach:
        """What a tag reaches (see :class:`Reach`). ``strict``: a manifest that cannot be read is
        a RegistryError, not a part left out."""
        out: dict[str, int] = {}
        top: dict | None = None
        todo = [reference]
        seen: set[str] = set()
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            m = self.manifest(repository, ref)
            if m is None:
                if strict:
                    raise RegistryError(f"{self.host}/{repository}@{ref}: the manifest could not be read")
                continue
            if ref == reference:
                top = m
            for child in m.get("manifests") or []:
                # An image index lists manifests; BuildKit's cache index lists its layer blobs
                # (and its cache config) there directly.
                if child.get("mediaType", "") in MANIFEST_TYPES:
                    todo.append(child["digest"])
                elif child.get("digest"):
                    out[child["digest"]] = int(child.get("size", 0))
            for blob in [m.get("config") or {}, *(m.get("layers") or [])]:
                if blob.get("digest"):
                    out[blob["digest"]] = int(blob.get("size", 0))
        return Reach(top, {d for d in seen if d != reference}, out)
