"""Which tags of a registry repository `stagecache gc` may remove: a pure reading of tags
against the cache ref and stage tag templates, given the branches that are alive and the
stages the Dockerfile has.

A tag is a candidate when a template makes it:
- for a branch that is not alive (templates with ``{branch}``), or
- for a stage the Dockerfile no longer has, on the fallback branch (or with templates
  without ``{branch}``), when gc reads the fallback branch's Dockerfile (``stale_stages``).
  An alive feature branch keeps every stage it has: its Dockerfile may have stages that the
  fallback branch's does not.

A tag that can be read as an alive branch's is one: ``cache-feature-x-build`` with
``feature`` alive is feature's stage ``x-build``, never dead ``feature-x``'s ``build``
(a dead branch whose name extends an alive one may so be kept; nothing alive is deleted).

Being a candidate is not enough to be deleted: stagecache.gc deletes only a manifest whose
content shows that stagecache made it (a BuildKit cache, an input record, or the image
that a record names), and never one that a kept tag points to as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stagecache import refs
from stagecache.errors import UsageError
from stagecache.inputstore import SUFFIX

STAGE_PATTERN = r"[A-Za-z][A-Za-z0-9_.-]*"
BRANCH_PATTERN = r"\w[\w.-]*"


@dataclass(frozen=True)
class Template:
    """A ref or tag template, split where the registry splits it: the repository (fixed,
    ``{image}`` filled in) and the tag part (with ``{stage}``, maybe ``{branch}``)."""

    kind: str
    """"cache" (the cache ref template), "image" (the stage tag template), or "other": the
    shape of another mode's tags in the same repository (the cache refs a registry-mode bake
    left), which this mode's gc does not judge."""
    repository: str
    tag: str
    records: bool = False
    """Whether input records (``TAG.inputs``) sit beside its tags: the cache refs in registry
    mode, the stage images in inline mode (whose cache they are)."""

    @property
    def has_branch(self) -> bool:
        """Whether the tag part names the branch."""
        return "{branch}" in self.tag


def split(kind: str, template: str, image: str, keypath: str, records: bool = False) -> Template:
    """``template`` (``{image}:cache-{branch}-{stage}``) as a :class:`Template`; UsageError
    when the repository part names the stage or branch: gc lists one repository's tags, and
    cannot find the repositories of stages or branches it does not know."""
    name, sep, tag = template.rpartition(":")
    if not sep or "/" in tag:
        name, tag = template, ""
    if "{stage}" in name or "{branch}" in name or not tag:
        raise UsageError(
            f"{keypath} = {template!r}: stagecache gc reads the stage and branch from the tag, so the template must "
            "keep them after the last ':' (e.g. '{image}:cache-{branch}-{stage}'); a repository per stage or branch "
            "cannot be listed without the registry's catalog. Remove such repositories with the registry's own tools."
        )
    if "{image}" in tag:
        raise UsageError(f"{keypath} = {template!r}: {{image}} in the tag part is not supported by stagecache gc.")
    return Template(kind, name.format(image=image), tag, records)


def _regex(tag: str, branch: str, stage: str) -> re.Pattern[str]:
    """The tag part as a regular expression: ``{branch}`` and ``{stage}`` as named groups of
    the patterns ``branch`` and ``stage``, the rest literal."""
    out, seen = [], set()
    for literal, field in re.findall(r"([^{}]*)(?:\{(\w+)\}|$)", tag):
        out.append(re.escape(literal))
        if field:
            out.append(f"(?P={field})" if field in seen else f"(?P<{field}>{stage if field == 'stage' else branch})")
            seen.add(field)
    return re.compile("".join(out))


def _either(values: set[str]) -> str:
    """A pattern that matches exactly one of ``values`` (none: nothing)."""
    return "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)) or "(?!)"


def branch_forms(branch: str) -> tuple[str, ...]:
    """Every form ``branch`` takes in a tag (refs.sanitize_tag, for each room a tag can
    leave it), longest first."""
    return tuple(sorted({refs.sanitize_tag(branch, room) for room in range(9, 129)}, key=len, reverse=True))


@dataclass(frozen=True)
class Reading:
    """What a tag is, by the templates: its kind ("cache", "record", "image"), the branch
    (as it reads in the tag; "" without ``{branch}``), the stage, and why it would be
    removed ("" when it is kept)."""

    tag: str
    kind: str
    branch: str
    stage: str
    reason: str


class Selector:
    """Reads tags of one repository against its templates."""

    def __init__(
        self,
        templates: list[Template],
        alive: list[str],
        fallback: str,
        stages: list[str],
        repository: str,
        stale_stages: bool = True,
    ) -> None:
        self.stages = set(stages)
        self.stale_stages = stale_stages
        self._templates = self.templates_of(templates, repository)
        self.fallback_forms = set(branch_forms(fallback))
        alive_re = _either({f for b in {*alive, fallback} for f in branch_forms(b)})
        known = _either(self.stages)
        # The readings in the order they are tried: an alive branch before any other (what
        # can be read as alive is kept), and within each, a stage the Dockerfile has before
        # one it has not (``feature-x-build`` with only main alive: feature-x's build).
        self._readings = [
            (t, alive, _regex(t.tag, branch, stage))
            for alive, branch in ((True, alive_re), (False, BRANCH_PATTERN))
            for stage in (known, STAGE_PATTERN)
            for t in self._templates
            if (alive or t.has_branch) and t.kind != "other"
        ]
        self._others = [_regex(t.tag, BRANCH_PATTERN, STAGE_PATTERN) for t in self._templates if t.kind == "other"]

    @staticmethod
    def templates_of(templates: list[Template], repository: str) -> list[Template]:
        """The templates whose tags are in ``repository``."""
        return [t for t in templates if t.repository == repository]

    def branch_of(self, record_tag: str, stage: str) -> str | None:
        """The branch (as the tag has it) of the record tag ``record_tag`` of stage ``stage``
        (the record says its stage: no other reading is possible), or None."""
        for t in self._templates:
            if t.records and t.has_branch and record_tag.endswith(SUFFIX):
                m = _regex(t.tag, BRANCH_PATTERN, re.escape(stage)).fullmatch(record_tag.removesuffix(SUFFIX))
                if m is not None:
                    return m.group("branch")
        return None

    def read(self, tag: str) -> Reading | None:
        """What ``tag`` is, or None when no template makes it (not stagecache's: kept)."""
        kind = "record" if tag.endswith(SUFFIX) else ""
        bare = tag.removesuffix(SUFFIX) if kind else tag
        if any(other.fullmatch(bare) for other in self._others):
            return None  # another mode's tag (or its record): not this mode's to judge
        for template, alive, regex in self._readings:
            m = regex.fullmatch(bare) if template.records or not kind else None
            if m is None:
                continue
            stage, branch = m.group("stage"), m.groupdict().get("branch") or ""
            kind = kind or template.kind
            if not alive:
                return Reading(tag, kind, branch, stage, f"branch '{branch}' is not alive")
            if (
                stage in self.stages
                or not self.stale_stages
                or (template.has_branch and branch not in self.fallback_forms)
            ):
                return Reading(tag, kind, branch, stage, "")
            return Reading(tag, kind, branch, stage, f"stage '{stage}' is not in the Dockerfile")
        return None
