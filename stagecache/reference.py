"""Image references, checked with the grammar BuildKit uses (github.com/distribution/reference,
``ParseNormalizedNamed``): a ``FROM`` or ``COPY --from`` value that is not a stage must parse
as ``[domain/]path[:tag][@digest]``, or BuildKit refuses the whole build."""

from __future__ import annotations

import re

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DOMAIN_RE = re.compile(_DOMAIN)
_TAG_RE = re.compile(_TAG)
_DIGEST_RE = re.compile(_DIGEST)
_HEX64_RE = re.compile(r"[a-f0-9]{64}")


def problem(ref: str) -> str | None:
    """Why ``ref`` is not a valid image reference, in BuildKit's words, or None if it is."""
    if not ref:
        return "an image reference cannot be empty"
    name, digest = ref, None
    if "@" in name:
        name, digest = name.split("@", 1)
        if not _DIGEST_RE.fullmatch(digest):
            return "invalid reference format"
        problem = _digest_problem(digest)
        if problem:
            return problem
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            return "invalid reference format" if tag else "invalid reference format (empty tag after ':')"
    if not name:
        return "invalid reference format (no repository name)"
    domain, path = _split_domain(name)
    if domain is not None and not _DOMAIN_RE.fullmatch(domain):
        return "invalid reference format"
    if not _PATH_RE.fullmatch(path):
        if _PATH_RE.fullmatch(path.lower()):
            return "invalid reference format: repository name must be lowercase"
        return "invalid reference format"
    if domain is None and tag is None and digest is None and _HEX64_RE.fullmatch(path):
        return "invalid repository name, cannot specify 64-byte hexadecimal strings"
    # The limit is on the repository path once normalised (docker.io's "library/" added).
    remote = path
    if (domain is None or domain in ("docker.io", "index.docker.io")) and "/" not in path:
        remote = "library/" + path
    if len(remote) > 255:
        return "repository name must not be more than 255 characters"
    return None


_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def _digest_problem(digest: str) -> str | None:
    """go-digest's Parse/Validate, as distribution/reference applies it."""
    algorithm, _, hexpart = digest.partition(":")
    if algorithm not in _DIGEST_LENGTHS:
        return "unsupported digest algorithm"
    if len(hexpart) != _DIGEST_LENGTHS[algorithm]:
        return "invalid checksum digest length"
    if not re.fullmatch(r"[a-f0-9]+", hexpart):
        return "invalid checksum digest format"
    return None


def _split_domain(name: str) -> tuple[str | None, str]:
    """distribution/reference splitDockerDomain: the first component is a registry when it has
    a '.' or ':', is ``localhost``, or has upper-case letters."""
    first, sep, rest = name.partition("/")
    if sep and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first):
        return first, rest
    return None, name


def names_registry(image: str) -> bool:
    """Whether ``image`` starts with a registry host (``ghcr.io/...``, ``host:5000/...``,
    ``localhost/...``) rather than being a Docker Hub name."""
    return _split_domain(image)[0] is not None


def is_bare_name(ref: str) -> bool:
    """A reference with no registry, tag or digest (``compile-imag``): what a mistyped stage
    name looks like."""
    return "/" not in ref and ":" not in ref and "@" not in ref
