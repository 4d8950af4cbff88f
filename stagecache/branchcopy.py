"""Caches copied in the registry instead of exported: a manifest put under another tag of the
same repository (one request, no blob uploaded).

A branch's first caches, from the fallback branch's (:func:`choose`). With ``{branch}`` in
the cache ref, the first bake of a new branch finds no cache of its own and imports the
fallback branch's. A stage whose steps all hit there, and whose fallback cache's record has
the stage's current inputs (stagecache.why.Record.fallback_current), needs no export: the
fallback branch's cache manifest is put under the branch's own ref, and, when the stage's
image is pushed, the image that record names is put under the branch's tags the same way.

A project's first caches, from the first build's (:func:`choose_first`). When the target and
other stages have no cache yet (the first bake of a project, or of new stages with a new
target), the fast path's first build exports the target's cache with ``mode=max``
(fastpath.first_build): it holds the records and layers of every step of every stage that
build ran. Each other stage without a cache gets that manifest under its own ref instead of a
build of its own that would export its cache: such a build re-solves every stage it is built
on and exports their records again, so in a chain of N stages the N builds cost about N * N / 2
stages' work (docs/benchmarks.md, "A deep Dockerfile").

Either way the next bake finds each stage's own cache, with its record (stored by
stagecache.why after the bake, as for a cache this bake wrote). A manifest can only be put in
the repository that holds its blobs: a copy is made only within one registry repository. Any
other stage, and one whose copy fails, gets its own build, as without this.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from stagecache.errors import StagecacheError
from stagecache.inputstore import split_ref

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Sequence

    from stagecache.plan import BuildPlan, StageBuild
    from stagecache.report import StageResult
    from stagecache.why import Record


@dataclass(frozen=True)
class Copy:
    """One stage's copy: its build (what runs instead if the copy fails), the ref copied from
    (the fallback branch's cache, or the first build's) and the stage's own, the cache
    manifest's digest, and the digest of the image to put under its tags ("": the image is not
    pushed, or is pushed by a build of its own)."""

    build: StageBuild
    source: str
    target: str
    digest: str
    """The digest of the manifest copied (the fallback cache's that its record describes, or
    the one the first build exported), whatever the source ref points to by the time of the
    copy."""
    image: str = ""
    origin: str = "the fallback branch's"
    """Whose cache it is, for the messages."""


def choose(
    plan: BuildPlan, rows: dict[str, StageResult], record: Record, builds: Sequence[StageBuild]
) -> tuple[list[StageBuild], list[Copy]]:
    """Of ``builds`` (the own builds the fast path chose), the ones still to run and the
    copies that replace the others' cache exports (a stage whose image cannot be copied keeps
    a build that pushes it and exports nothing)."""
    if plan.mode.name != "registry" or plan.fallback_branch is None or plan.config.cache.read_only:
        return list(builds), []
    now = record.now(list(rows.values()))
    keep: list[StageBuild] = []
    copies: list[Copy] = []
    for b in builds:
        labelled = [rows[label] for label in b.reports if label in rows]
        hit = bool(labelled) and all(s.cached for r in labelled for s in r.steps)
        found = record.fallback_current(b, rows, now) if hit and b.cache.cache_to else None
        own = _own_ref(b)
        if found is None or not own or _repository(found[0]) != _repository(own):
            keep.append(b)
            continue
        source, inputs = found
        image = inputs.image if b.push and all(_repository(t) == _repository(own) for t in b.tags) else ""
        if b.push and not image:
            keep.append(b.without_export())
        copies.append(Copy(b, source, own, inputs.cache, image))
    return keep, copies


def choose_first(
    plan: BuildPlan, record: Record, builds: Sequence[StageBuild], source: str
) -> tuple[list[StageBuild], list[Copy]]:
    """Of ``builds`` (the own builds the fast path chose, after a first build that exported its
    cache to the registry ref ``source`` with ``mode=max``), the ones still to run and the copies
    of ``source`` that replace the cache exports of the stages that had no cache before the bake
    (a stage whose image is pushed keeps a build that pushes it and exports nothing)."""
    host, repo, tag = split_ref(source)
    client = record.client(host)
    try:
        digest = client.digest(repo, tag)
    except (OSError, ValueError, StagecacheError):
        digest = ""
    keep: list[StageBuild] = []
    copies: list[Copy] = []
    for b in builds:
        own = _own_ref(b)
        none_read = b.stage in record.before and not record.before[b.stage]  # at the start
        if not (digest and b.cache.cache_to and own and none_read) or _repository(own) != (host, repo):
            keep.append(b)
            continue
        try:  # the registry must say it has none (404), now: another bake may have written it since
            empty = client.absent(repo, split_ref(own)[2])
        except (OSError, ValueError, StagecacheError):
            empty = False
        if not empty:
            keep.append(b)
            continue
        if b.push:
            keep.append(b.without_export())
        copies.append(Copy(b, source, own, digest, origin="the first build's"))
    return keep, copies


def run(
    copies: Sequence[Copy], builds: Sequence[StageBuild], record: Record, say: Callable[[str], None]
) -> tuple[list[StageBuild], dict[str, Copy]]:
    """Make the copies; ``builds`` (the builds still to run) with the whole build of each
    stage whose copy failed in place of any push-only one, in plan order, and the copies
    made, by stage. Each copy made or failed is said."""
    failed: list[StageBuild] = []
    made: dict[str, Copy] = {}
    for c in copies:
        host, repo, tag = split_ref(c.target)
        try:
            client = record.client(host)
            client.copy_manifest(repo, c.digest, tag)
            for t in c.build.tags if c.image else ():
                client.copy_manifest(repo, c.image, split_ref(t)[2])
        except StagecacheError as exc:
            say(f"note: {c.build.stage}: {c.origin} cache could not be copied ({exc.message}).")
            failed.append(c.build)
            continue
        made[c.build.stage] = c
    said: dict[tuple[bool, str, str], list[str]] = {}
    for c in made.values():
        said.setdefault((bool(c.image), c.origin, c.source), []).append(c.build.stage)
    for (image, origin, source), stages in said.items():
        what = "cache and image" if image else "cache"
        if len(stages) == 1:
            say(f"note: {stages[0]}: its {what} copied from {origin} {source} (no build, no upload).")
        else:
            names = ", ".join(stages) if len(stages) <= 5 else f"{', '.join(stages[:3])}, ... {stages[-1]}"
            say(
                f"note: {len(stages)} stages ({names}): their {what} copied from {origin} {source}"
                " (no build, no upload)."
            )
    todo = {b.stage: b for b in builds} | {b.stage: b for b in failed}
    return sorted(todo.values(), key=lambda b: b.index), made


def mark(rows: Sequence[StageResult], made: dict[str, Copy]) -> list[StageResult]:
    """``rows`` with each copied stage's ``copied_from`` and, when its image was copied too,
    its tags as pushed."""
    out = []
    for r in rows:
        c = made.get(r.stage)
        if c is not None:
            r = replace(r, copied_from=c.source, pushed=c.build.tags if c.image else r.pushed, unchanged=())
        out.append(r)
    return out


def _own_ref(build: StageBuild) -> str:
    """The registry ref of the stage's own cache ("" when it has none)."""
    return dict(build.cache.cache_from[0].attrs).get("ref", "") if build.cache.cache_from else ""


def _repository(ref: str) -> tuple[str, str]:
    """(host, repository) of an image or cache ref."""
    host, repo, _ = split_ref(ref)
    return host, repo
