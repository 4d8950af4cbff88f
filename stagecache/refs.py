"""Validation of the values that end up in docker argv.

Every string taken from config or flags and passed to docker is checked here
first, so no value can be read as a flag, break out of a ``k=v,k=v`` option or
name something other than an image. Patterns follow distribution/reference
(the grammar docker itself uses).
"""

from __future__ import annotations

import re

from stagecache import reference

# BuildKit: stage names are letters, digits, '-', '_', '.'; must start with a letter.
STAGE_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]*$")
ARG_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Characters that would split or re-key a buildx `k=v,k=v` option or argv.
OPTION_UNSAFE = frozenset(',"=\n\r\x00')


def check_reference(value: str) -> str | None:
    """Return why ``value`` is not a valid image reference, or None if it is."""
    if not value:
        return "it is empty"
    if value.startswith("-"):
        return "it starts with '-' and would be read as a flag"
    problem = reference.problem(value)
    if problem:
        detail = problem.removeprefix("invalid reference format").lstrip(": ")
        return (
            f"it is not an image reference{': ' + detail if detail else ''} "
            "(expected [registry[:port]/]name[:tag], lowercase name components)"
        )
    return None


def check_repository(value: str) -> str | None:
    """Return why ``value`` is not a repository name (no tag, no digest), or None."""
    problem = check_reference(value)
    if problem:
        return problem
    if "@" in value or value.rfind(":") > value.rfind("/"):
        return "it must be a repository without a tag or digest (e.g. registry.example.com/team/app)"
    return None


_UNSAFE_RE = re.compile("[" + re.escape("".join(OPTION_UNSAFE)) + "]")


def check_option_value(value: str) -> str | None:
    """Return why ``value`` cannot go inside a ``k=v,k=v`` option or argv, or None."""
    if value.startswith("-"):
        return "it starts with '-' and would be read as a flag"
    if not _UNSAFE_RE.search(value):
        return None
    bad = sorted({c for c in value if c in OPTION_UNSAFE})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"it contains {shown}, which would change the meaning of a buildx option"
    return None


def sanitize_tag(value: str, room: int = 128) -> str:
    """A valid tag part, at most ``room`` characters, made of arbitrary text such as a branch
    name: the same text gives the same part, and different texts give different parts.

    A name that is already a valid tag part and fits stays as it is (``main``). Otherwise the
    characters a tag cannot hold become ``-``, the result is cut to fit, and 8 hex digits of
    the name's SHA-256 are appended, so that ``feature/x`` and ``feature-x``, or two long
    names that share their first 100 characters, never share a tag."""
    import hashlib

    if re.fullmatch(r"\w[\w.-]*", value, re.ASCII) and len(value) <= room:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    readable = re.sub(r"[^\w.-]+", "-", value, flags=re.ASCII).strip(".-")[: max(room - 9, 0)].rstrip(".-")
    return f"{readable}-{digest}" if readable and re.match(r"\w", readable, re.ASCII) else digest
