"""Which Dockerfile frontend reads the file, and the rules that differ between versions.

The meaning of a Dockerfile is the frontend's: the one a ``# syntax=`` line names (most
large projects use ``docker/dockerfile:1``, the latest stable release), or else the one
built into the engine's BuildKit. Two rules that change the stage graph changed in
Dockerfile frontend 1.11 (BuildKit v0.17, moby/buildkit#5349 and the ONBUILD work):

- a global ``ARG NAME`` with no value keeps a value NAME already has (the automatic
  ``TARGETARCH``, or an earlier ``ARG NAME=x``); before, it set NAME to the empty string
  (seen on dockerd 26.1.5 / BuildKit 0.13: ``ARG BUILDPLATFORM`` then
  ``FROM --platform=$BUILDPLATFORM`` fails with ``"" is an invalid OS component``);
- ``ONBUILD COPY --from=STAGE`` (and ``ONBUILD RUN --mount=from=STAGE``) in a base stage
  makes every stage built ``FROM`` it depend on STAGE; before, the build failed with
  ``cannot copy from stage "src", it needs to be defined before current stage``.

``plan`` assumes the current stable frontend unless the file names another; ``bake`` and
``doctor`` ask the engine which rules its built-in frontend follows when the file has no
``# syntax=`` line and uses one of these idioms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CURRENT_STABLE = (1, 11)
"""The oldest frontend with today's rules; anything at least this new reads files the same way here."""


@dataclass(frozen=True)
class Frontend:
    """The frontend a plan assumes, and the version-dependent rules it follows."""

    description: str
    source: str
    """``syntax`` (named by the file), ``assumed`` (no syntax line, no engine asked) or
    ``engine`` (the engine's built-in frontend, probed)."""
    modern: bool = True
    """Frontend 1.11 or later: meta ARGs without a value keep their value; ONBUILD --from works."""

    def to_json(self) -> dict[str, object]:
        """For ``plan --json`` and the report."""
        return {"description": self.description, "source": self.source, "rules": "1.11+" if self.modern else "<1.11"}


ASSUMED = Frontend("current stable Dockerfile frontend (docker/dockerfile:1)", "assumed")
BUILTIN_OLD = Frontend("the engine's built-in Dockerfile frontend, older than 1.11", "engine", modern=False)
BUILTIN_CURRENT = Frontend("the engine's built-in Dockerfile frontend, 1.11 or later", "engine")

_OFFICIAL = re.compile(r"^(?:docker\.io/)?docker/dockerfile(?:-upstream)?(?::(?P<tag>[^@]+))?(?:@.*)?$")
_VERSION = re.compile(r"^(?P<major>\d+)(?:\.(?P<minor>\d+))?(?:\.\d+)?(?:-labs)?$")


def from_syntax(syntax: str | None) -> Frontend:
    """The frontend a ``# syntax=`` value names (``None``: not named, the current stable
    frontend is assumed). Versions are compared by major.minor."""
    if not syntax:
        return ASSUMED
    m = _OFFICIAL.match(syntax.strip())
    if not m:
        return Frontend(f"{syntax} (not a docker/dockerfile release; current rules assumed)", "syntax")
    tag = m.group("tag") or "latest"
    v = _VERSION.match(tag)
    if v is None:
        # latest, labs, master, 1-labs...: current rules. "experimental" is a 2019 release.
        modern = tag != "experimental"
        return Frontend(f"{syntax}", "syntax", modern=modern)
    version = (int(v.group("major")), int(v.group("minor") or 10**6))
    return Frontend(syntax, "syntax", modern=version >= CURRENT_STABLE)
