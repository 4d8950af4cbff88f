"""The fast path ([build].fast_path, on by default): every stage cached, at the cost of one
build when nothing changed.

1. The probe: one build of the target that imports every stage's cache (plan.probe), but
   those that others hold. Its progress stream says, stage by stage, which steps hit: that is
   the bake's report and what the cache-hit gate reads. When the input records (stagecache.why)
   forecast that the target alone will miss, the probe also exports the target's cache and
   pushes its image (plan.probe_export: :func:`first_build`).
   With ``[cache].first_export = "shared"``, on a project's first bake with registry caches
   (:func:`shares_first_cache`), the probe exports the target's cache with ``mode=max``, and
   the other stages without a cache get copies of its manifest instead of builds of their own
   (stagecache.branchcopy.choose_first).
2. Only the stages that need it are then built on their own (by the scheduler, or by one
   bake session), to export their cache and push their image. BuildKit holds their results
   from the probe by then, so these builds run no step again: they export. A stage needs its
   own build when its cache is not known to be current (:func:`_current`), or when its image
   is pushed and its tags do not all point at the image its record names.
3. The report keeps the probe's steps (what came from cache on this runner) and adds what
   each own build exported and pushed.

BuildKit does not say which cache served a hit. A stage whose steps all hit is known to be in
its own cache when nothing else could have served them (a new CI runner, without a fallback
branch's caches: :func:`fresh_runner`), or when the record beside that cache has the stage's
current inputs (any engine). The plan has no probe with ``classic``, a named builder or
several platforms (see plan.FAST_MODES): every stage gets its own build there, as with
``fast_path = false``.

Read-only bakes ([cache].read_only) export and push nothing: the probe is the whole bake.
Stages other than the target are not loaded into the engine's image store unless they get
a build of their own.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from stagecache import branchcopy, why
from stagecache.errors import Cancelled, Interrupted
from stagecache.execution import Execution
from stagecache.plan import BuildPlan, StageBuild
from stagecache.report import StageResult, mentions, source_of
from stagecache.stagebuild import build_stage, detail

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Collection, Iterable

    from stagecache.bake import Display
    from stagecache.inputs import StageInputs
    from stagecache.progress import Event
    from stagecache.runner import Runner


def fresh_runner(plan: BuildPlan, runner: Runner) -> bool:
    """Whether hits alone prove a stage's own cache current (see the module docstring): on an
    engine that holds no image of the project (one docker call, made before the probe loads the
    target's image; a bake loads its target's image, so an engine that baked the project before
    has one), without a fallback branch's caches in the probe. A named builder, or a build for
    several platforms, loads no image into the engine (the plan has no probe there)."""
    if plan.config.cache.read_only or plan.fallback_branch is not None:
        return False
    return not runner.local_tags(plan.config.image)


def first_build(plan: BuildPlan, record: why.Record | None) -> StageBuild:
    """The probe to run: ``plan.probe``, or, when the input records forecast that the target
    and no other stage will miss (a change to the last stage alone: the common edit), the probe
    that also exports the target's cache and pushes its image (``plan.probe_export``), which
    saves the target the build of its own that would follow. A wrong forecast costs an export,
    nothing else. Either leaves out the caches that others hold (:func:`_importing`)."""
    assert plan.probe is not None
    if record is None or plan.mode.name not in why.EXPLAINED_MODES:
        return plan.probe
    misses = {f.stage for f in record.forecast() if f.rebuilt}
    if shares_first_cache(plan, record):
        assert plan.probe_export is not None
        return _importing(plan, plan.probe_export.exporting_every_step(), misses, record)
    alone = plan.probe_export is not None and misses == {plan.probe.stage}
    return _importing(plan, plan.probe_export if alone and plan.probe_export else plan.probe, misses, record)


def shares_first_cache(plan: BuildPlan, record: why.Record) -> bool:
    """Whether the first build exports the target's registry cache with ``mode=max``, for the
    other stages without a cache to get copies of it (stagecache.branchcopy.choose_first):
    ``[cache].first_export = "shared"``, the target and at least one other stage have no cache
    yet, and no fallback branch's caches are in play (a new branch copies those:
    branchcopy.choose).

    Not the default: one cache of the target can lose hits that the stages' own caches keep
    (benchmarks/shared_first_export.py; docs/commands.md, "The fast path")."""
    if plan.config.cache.first_export != "shared" or plan.mode.name != "registry" or plan.probe_export is None:
        return False
    target = plan.probe_export.stage
    if plan.fallback_branch is not None or not record.has_no_cache(target):
        return False
    return any(b.cache.cache_to and record.has_no_cache(b.stage) for b in plan.builds if b.stage != target)


def _importing(plan: BuildPlan, probe: StageBuild, misses: Collection[str], record: why.Record) -> StageBuild:
    """``probe`` without the own caches of the stages that it need not import: a stage whose
    record has its current inputs (one a record can prove current: Record.provable) and that
    other stages are built FROM, each of them current too. A stage's cache holds the steps of
    the stages its image is built on (``mode=min`` and ``inline`` keep the image's layers,
    ``max`` more), so their caches serve its steps. BuildKit's time to take a step from cache
    grows with the number of caches imported (docs/benchmarks.md, "A deep Dockerfile")."""
    children: dict[str, list[str]] = {}
    planned = {b.stage for b in plan.builds}
    for b in plan.builds:
        stage = plan.stage_of(b.stage)
        if stage is not None and stage.base_stage is not None:
            children.setdefault(plan.graph.stages[stage.base_stage].label, []).append(b.stage)
    skip = {
        str(b.cache.cache_from[0])
        for b in plan.builds
        if b.cache.cache_from
        and b.stage not in misses
        and record.provable(b)
        and children.get(b.stage)
        and all(k in planned and k not in misses for k in children[b.stage])
    }
    # The same manifest under several stages' own refs in a registry (copies of the first
    # build's cache: stagecache.branchcopy.choose_first) is imported once.
    seen: set[str] = set()
    registry = plan.mode.name == "registry"
    digests = {
        str(b.cache.cache_from[0]): record.before.get(b.stage, "")
        for b in plan.builds
        if registry and b.cache.cache_from
    }
    for spec in map(str, probe.cache.cache_from):
        if spec in skip:
            continue
        if digests.get(spec) and digests[spec] in seen:
            skip.add(spec)
        seen.add(digests.get(spec, ""))
    return probe.importing({str(spec) for spec in probe.cache.cache_from} - skip) if skip else probe


def bake(run: Execution, execute: Callable[[Execution], None], record: why.Record | None) -> None:
    """The fast path of a bake (see the module docstring): the probe, then the builds of the
    stages that still need one, or the registry copies that replace them (stagecache.branchcopy)."""
    plan, runner = run.plan, run.runner
    fresh = fresh_runner(plan, runner)  # before the probe loads an image
    probe(run, first_build(plan, record))
    stop = run.error is not None and plan.config.on_failure == "cancel"
    if runner.cancelled or stop:
        return
    rows = {r.stage: r for r in run.rows}
    # After a failure too (unless on_failure = "cancel"): the stages built before it keep their
    # new caches, as they would with per-stage builds.
    builds = needing_own_build(plan, rows, fresh, record)
    made: dict[str, branchcopy.Copy] = {}
    if record is not None:
        builds, copies = branchcopy.choose(plan, rows, record, builds)
        first = rows.get(plan.probe_export.stage) if plan.probe_export is not None else None
        exported = first is not None and first.status == "built" and first.cache_to and not first.export_errors
        if first is not None and exported and shares_first_cache(plan, record):
            builds, more = branchcopy.choose_first(plan, record, builds, source_of(first.cache_to[0]))
            copies += more
        if copies:
            builds, made = branchcopy.run(copies, builds, record, run.display.message)
    run.rows[:] = branchcopy.mark(unchanged(plan, run.rows, builds), made)
    if builds and not runner.cancelled:
        export(run, builds, execute)


def probe(run: Execution, build: StageBuild | None = None) -> dict[str, StageResult]:
    """Run the probe of ``run.plan`` (or ``build``: :func:`first_build`); the rows it gives each
    stage label. When it failed, ``run.error`` is set; the stages it built before the failure
    are "built" in the rows."""
    plan, runner, display = run.plan, run.runner, run.display
    build = build or plan.probe
    assert build is not None
    left = len(plan.probe.cache.cache_from) - len(build.cache.cache_from) if plan.probe is not None else 0
    imports = (
        f", importing every stage's cache but {left} that others hold"
        if left > 0
        else ", importing every stage's cache"
    )
    display.stage_started(build.stage, 1, 1, detail(plan, build) + imports)
    exported = bool(build.cache.cache_to or build.push)
    offset = time.monotonic() - run.started
    outcome = build_stage(plan, build, runner, display)
    by_label = {r.stage: r for r in outcome.rows}
    own = by_label[build.stage]
    # What BuildKit said of an imported cache goes to each stage whose own build imports it (as
    # those builds would have reported it); what names none of them, to the target.
    imported = {str(s) for s in build.cache.cache_from}
    sources = {b.stage: [source_of(str(s)) for s in b.cache.cache_from] for b in plan.builds}
    every = {src for srcs in sources.values() for src in srcs}

    def of(stage: str, said: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(
            e
            for e in said
            if any(mentions(e, src) for src in sources[stage])
            or (stage == build.stage and not any(mentions(e, src) for src in every))
        )

    rows = {}
    for b in plan.builds:
        for label in b.reports:
            row = by_label.get(label)
            if row is None:
                continue
            # Each stage's row: its steps from the probe, the caches its own build imports
            # with what BuildKit said of them, and no tags unless its image was loaded.
            kept = exported and label == build.stage  # what the probe exported and pushed
            rows[label] = replace(
                row,
                built_in=None if label == b.stage else b.stage,  # an unnamed stage: reported as before
                tags=own.tags if label == build.stage else (),
                pushed=row.pushed if kept else (),
                cache_from=tuple(str(s) for s in b.cache.cache_from if str(s) in imported) if label == b.stage else (),
                cache_to=row.cache_to if kept else (),
                import_errors=of(b.stage, own.import_errors) if label == b.stage else (),
                missing_caches=of(b.stage, own.missing_caches) if label == b.stage else (),
                export_errors=row.export_errors if kept else (),
                export_seconds=row.export_seconds if kept else 0.0,
            )
    if isinstance(outcome.error, (Interrupted, Cancelled)):
        pass  # build_stage's statuses: "interrupted" or "cancelled", with the steps that had finished
    elif outcome.error is not None:
        # The stage that broke failed; a stage whose steps all finished was built; one that had
        # started was stopped by the failure (BuildKit cancels what runs beside the failed step);
        # one that never started was skipped, as after a failure in per-stage builds. (A failed
        # build reports only the steps that ran: see stagebuild.build_stage.)
        failed = next((r.stage for r in rows.values() if any(s.error for s in r.steps)), build.stage)
        for label, r in rows.items():
            done = _complete(plan, label, r)
            status = "failed" if label == failed else "built" if done else "cancelled" if r.steps else "skipped"
            rows[label] = replace(r, status=status)
        run.fail(outcome.error)
    run.finish(rows.values(), offset)
    return {r.stage: r for r in run.rows}


def _complete(plan: BuildPlan, label: str, row: StageResult) -> bool:
    """Whether every step of the stage finished without error, on every platform it was built
    for (a failed build reports only the steps that ran)."""
    if not row.steps or any(s.error for s in row.steps):
        return False
    ran: dict[str | None, set[int]] = {}
    for s in row.steps:
        ran.setdefault(s.platform, set()).add(s.number)
    for platform, numbers in ran.items():
        stage = plan.stage_of(label, platform) or plan.stage_of(label)
        if stage is None or not {i.step for i in stage.steps} <= numbers:
            return False
    return True


def needing_own_build(
    plan: BuildPlan, rows: dict[str, StageResult], fresh: bool = False, record: why.Record | None = None
) -> list[StageBuild]:
    """The builds of the stages that must export their cache or push their image (see the
    module docstring), in plan order. ``fresh``: :func:`fresh_runner`; ``record``: the bake's
    input records, which prove a stage's cache (and image) current on any engine."""
    if plan.config.cache.read_only:
        return []
    now = record.now(list(rows.values())) if record is not None else {}
    inline = plan.mode.name == "inline"
    used = _used(plan)
    out = []
    for b in plan.builds:
        if any(rows[label].status != "built" for label in b.reports if label in rows):
            continue  # after a failed first build: only the stages it did build are exported
        row = rows.get(b.stage)
        if row is not None and row.cache_to and not row.export_errors and (row.pushed or not b.push):
            continue  # the first build exported it (first_build)
        current = _current(b, rows, fresh and b.stage not in used, record, now)
        if b.cache.cache_to and not current:
            out.append(b)
        elif b.push and not (record is not None and record.current_cache(b, now) and record.current_image(b)):
            # Its cache is current, but its tags may not point at an image of these inputs:
            # pushed, its cache not exported again (inline: its cache is the image it pushes).
            out.append(b if inline else b.without_export())
    return out


def unchanged(plan: BuildPlan, rows: list[StageResult], builds: list[StageBuild]) -> list[StageResult]:
    """``rows`` where each stage whose image is pushed but gets no build of its own says which
    tags it left as they were (they point at the image of a bake with the same inputs)."""
    if plan.config.cache.read_only:
        return rows
    left = {b.stage: b.tags for b in plan.builds if b.push}
    for b in builds:
        left.pop(b.stage, None)
    return [
        replace(r, unchanged=left[r.stage]) if r.stage in left and r.status == "built" and not r.pushed else r
        for r in rows
    ]


def _used(plan: BuildPlan) -> set[str]:
    """The stages that another stage of the bake is built FROM, copies from or mounts: that
    stage's cache may hold their steps (it holds the steps its image is built on; with
    ``mode=max`` or a local cache, all the steps its build ran)."""
    out: set[str] = set()
    for b in plan.builds:
        for label in b.reports:
            stage = plan.stage_of(label)
            if stage is not None:
                out.update(plan.graph.stages[i].label for i in stage.deps if plan.graph.stages[i].label != label)
    return out


def _current(
    build: StageBuild,
    rows: dict[str, StageResult],
    fresh: bool,
    record: why.Record | None,
    now: dict[str, StageInputs],
) -> bool:
    """Whether the stage's own cache holds its current result, given its stages' rows from the
    probe: every step hit, and either nothing but the stage's own cache could have served them
    (``fresh``: a new runner, and no other stage of the bake uses the stage, whose cache could
    hold its steps; and that cache was imported) or the record beside that cache has the
    current inputs (:meth:`why.Record.current_cache`)."""
    labelled = [rows[label] for label in build.reports if label in rows]
    if not labelled or any(not s.cached for r in labelled for s in r.steps):
        return False
    own = str(build.cache.cache_from[0]) if build.cache.cache_from else None
    row = rows.get(build.stage)
    if fresh and own is not None and row is not None and dict(row.cache_sources()).get(own) == "imported":
        return True
    return record is not None and record.current_cache(build, now)


def export(run: Execution, builds: list[StageBuild], execute: Callable[[Execution], None]) -> None:
    """Run the stages' own builds (``execute``: the scheduler or one bake session) after the
    probe, and fold what they did into ``run.rows``. Their steps are not shown again (BuildKit
    has them from the probe): only that each stage exports and pushes.

    They need not wait for each other (BuildKit holds every result from the probe), so they
    run side by side, up to ``jobs`` at a time; except with local caches, where a build imports
    the folders of the stages it uses, which their own builds replace when they finish.

    Builds to a registry do not import the caches the probe found missing
    (:func:`without_missing`). Local ones do: their upstream folders, written by then, seed
    their own with hard links (localcache.prepare)."""
    ordered = run.plan.mode.name == "local"
    if not ordered:
        builds = without_missing(builds, run.rows)
    sub = Execution(
        replace(run.plan, builds=tuple(b if ordered else replace(b, upstream=()) for b in builds), probe=None),
        run.runner,
        _Exporting(run.display, {b.stage for b in builds if not b.cache.cache_to}),
        run.started,
    )
    execute(sub)
    run.rows[:] = merge({r.stage: r for r in run.rows}, sub.rows, {b.stage for b in builds})
    for note in sub.notes:
        run.notes.append(note)
    if sub.error is not None:
        run.fail(sub.error)


def without_missing(builds: Iterable[StageBuild], rows: Iterable[StageResult]) -> list[StageBuild]:
    """``builds`` without the caches that the probe's ``rows`` say BuildKit found missing (the
    first bake of a project finds none): they are missing still, and each costs the build a
    lookup. A deep stage's own build imports the caches of every stage upstream of it, so the
    first bake of N stages made about N * N / 2 such lookups. The caches that were imported
    stay: a step the probe took from one of them may be in the builder only as a reference to
    that cache's blobs, which an export reads."""
    missing = {m for r in rows for m in r.missing_caches}
    out = []
    for b in builds:
        keep = {str(s) for s in b.cache.cache_from if not any(mentions(m, source_of(str(s))) for m in missing)}
        out.append(b.importing(keep) if len(keep) < len(b.cache.cache_from) else b)
    return out


class _Exporting:
    """The display of the builds that follow the probe: their headers (saying whether each
    exports its cache or only pushes its image) and messages, not their steps (all cached) nor
    their step counts (the probe's are the report's)."""

    def __init__(self, display: Display, push_only: Collection[str] = ()) -> None:
        self._display = display
        self._push_only = push_only

    def stage_started(self, stage: str, index: int, count: int, detail: str) -> None:  # noqa: D102
        why = "to push its image" if stage in self._push_only else "to export what the first one built"
        self._display.stage_started(stage, index, count, f"{detail}; its own build, {why}")

    def event(self, e: Event) -> None:  # noqa: D102
        if e.kind == "error" or (e.kind == "message" and e.text.startswith(("ERROR", "WARNING"))):
            self._display.event(e)

    def stage_finished(self, stage: str, steps: int, cached: int, seconds: float, status: str) -> None:  # noqa: D102
        if status != "built":
            self._display.stage_finished(stage, steps, cached, seconds, status)

    def message(self, text: str) -> None:  # noqa: D102
        self._display.message(text)

    def close(self) -> None:  # noqa: D102
        pass


def merge(probed: dict[str, StageResult], own: Iterable[StageResult], planned: set[str]) -> list[StageResult]:
    """The report's rows: the probe's steps, with what each stage's own build exported and
    pushed, its status if that build failed or stopped, and the time it took. A stage whose own
    build was planned but never started (a failure stopped the rest) is "skipped": its cache
    was not exported, nor its image pushed."""
    by_stage = {r.stage: r for r in own}
    out = []
    for label, row in probed.items():
        r = by_stage.get(label)
        if r is None:
            out.append(replace(row, status="skipped") if label in planned and row.status == "built" else row)
            continue
        out.append(
            replace(
                row,
                status=r.status if r.status != "built" else row.status,
                seconds=round(row.seconds + r.seconds, 3),
                tags=r.tags,
                pushed=r.pushed,
                cache_to=r.cache_to,
                export_errors=r.export_errors,
                export_seconds=r.export_seconds,
                retries=row.retries + r.retries,
                finished_at=r.finished_at,
            )
        )
    return out
