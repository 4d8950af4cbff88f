"""``[build].execution = "bake"``: every stage in one ``docker buildx bake``, so BuildKit
solves them in one session; per-stage results come from the one rawjson stream.

In one session each target lists the steps of the stages it needs under its own digests,
and BuildKit's own vertices carry the target's name (``[app] exporting cache ...``): that is
how steps, cache import and export facts and export time are given to each stage, never
divided among them.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from stagecache import bakefile, localcache
from stagecache.errors import Cancelled, EnvironmentProblem, Interrupted, RegistryError
from stagecache.execution import Execution
from stagecache.failures import build_failure
from stagecache.plan import BuildPlan
from stagecache.progress import BuildProgress, CacheFacts, Step
from stagecache.report import StageResult, mentions, step_results
from stagecache.runner import Runner
from stagecache.stagebuild import detail, push, stage_base


def bake_session(run: Execution) -> None:
    """Run the whole plan as one bake session; sets ``run.error`` when it fails."""
    plan, runner, display, started = run.plan, run.runner, run.display, run.started
    bakefile.check(plan)
    fd, path = tempfile.mkstemp(prefix="stagecache-bake-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(bakefile.definition(plan), fh, indent=2)
        if plan.config.network:  # before any stage is announced: nothing has started if it fails
            _check_bake_network_file(plan, runner, path)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    labels = [label for b in plan.builds for label in b.reports]
    by_label = {label: b for b in plan.builds for label in b.reports}
    for i, b in enumerate(plan.builds, 1):
        display.stage_started(b.stage, i, len(plan.builds), detail(plan, b) + ", one bake session")
    progress = BuildProgress(
        on_event=lambda e: display.event(e) if e.step is None or (e.step.stage in by_label) else None,
        secrets=plan.secret_values,
    )
    t0 = time.monotonic()
    try:
        for b in plan.builds:
            warning = localcache.prepare(b)
            if warning:
                display.message(f"warning: {b.stage}: {warning}")
        rc = runner.run(bakefile.command(plan, path), progress.feed)
    except (Interrupted, Cancelled) as exc:
        for b in plan.builds:
            localcache.discard(b)
        run.finish([StageResult(b.stage, "interrupted", tags=b.tags) for b in plan.builds], t0 - started)
        run.fail(exc)
        return
    except BaseException:
        for b in plan.builds:
            localcache.discard(b)
        raise
    finally:
        Path(path).unlink(missing_ok=True)
    progress.close()
    offset = t0 - started
    failed = progress.failed_step()
    facts = _session_facts(plan, progress, run)
    single = plan.graph.stages[0].label if len(plan.graph.stages) == 1 else ""
    rows: list[StageResult] = []
    for label in labels:
        b = by_label[label]
        own = one_per_step((s for s in progress.steps.values() if (s.stage or single) == label), rc == 0)
        steps = step_results(None, label, own, stage_for=functools.partial(plan.stage_of, label))
        times = [t for s in own for t in (s.started, s.completed) if t is not None]
        span = max(times) - min(times) if times else 0.0
        if rc == 0:
            status = "built"
        elif failed is not None and (failed.stage or single) == label:
            status = "failed"
        else:
            status = "built" if own and all(s.done and not s.error for s in own) else "cancelled"
        is_build = label == b.stage
        rows.append(
            StageResult(
                stage=label,
                status=status,
                seconds=round(span, 3),
                steps=steps,
                # Pushed by bake, or by `docker push` below; after a failure, claim no push.
                pushed=b.tags if (rc == 0 and b.push and is_build) else (),
                tags=b.tags if is_build else (),
                cache_from=tuple(str(s) for s in b.cache.cache_from) if is_build else (),
                cache_to=tuple(str(s) for s in b.cache.cache_to) if is_build else (),
                built_in=None if is_build else b.stage,
                import_errors=tuple(facts[b.stage].import_errors) if is_build else (),
                missing_caches=tuple(facts[b.stage].missing_caches) if is_build else (),
                export_errors=tuple(facts[b.stage].export_errors) if is_build else (),
                export_seconds=round(progress.export_seconds_of(bakefile.target_name(b.stage)), 3) if is_build else 0.0,
                base=stage_base(plan, label, progress.steps.values(), single),
            )
        )
    if rc != 0:
        for b in plan.builds:
            localcache.discard(b)
        run.finish(rows, offset)
        # The failed step's stage, else the first whose cache export failed, else the last one.
        failing = next(
            (b for b in plan.builds if failed is not None and (failed.stage or single) in b.reports),
            next((b for b in plan.builds if facts[b.stage].export_errors), plan.builds[-1]),
        )
        row = next(r for r in rows if r.stage == failing.stage)
        run.fail(build_failure(failing, progress, rc, row))
        return
    for b in plan.builds:
        localcache.keep(b)
    for i, b in enumerate(plan.builds):  # only once every stage is built: a failed session pushes nothing
        try:
            push(b, runner, display)
        except (RegistryError, Interrupted, Cancelled) as exc:
            # This stage's push failed or was stopped, and the later ones never ran.
            status = "failed" if isinstance(exc, RegistryError) else "interrupted"
            unpushed = {later.stage for later in plan.builds[i:]}
            rows = [
                replace(r, pushed=(), status=status if r.stage == b.stage else r.status) if r.stage in unpushed else r
                for r in rows
            ]
            run.finish(rows, offset)
            run.fail(exc)
            return
    run.finish(rows, offset)


def _session_facts(plan: BuildPlan, progress: BuildProgress, run: Execution) -> dict[str, CacheFacts]:
    """Cache import/export facts of one bake session, per stage build.

    BuildKit names the bake target on its own vertices (``[app] importing cache manifest from
    ...``); buildx's plain WARNING lines name the cache's ref or directory instead, which
    belongs to the builds that import it. What names neither is said of the whole session."""
    out = {b.stage: CacheFacts() for b in plan.builds}
    for b in plan.builds:
        mine = progress.facts.get(bakefile.target_name(b.stage))
        if mine is not None:
            out[b.stage] = CacheFacts(list(mine.import_errors), list(mine.missing_caches), list(mine.export_errors))
    loose = progress.facts.get(None, CacheFacts())
    for kind in ("import_errors", "missing_caches", "export_errors"):
        for text in getattr(loose, kind):
            owners = [b for b in plan.builds if _names_cache(text, (*b.cache.cache_from, *b.cache.cache_to))]
            for b in owners:
                if text not in getattr(out[b.stage], kind):
                    getattr(out[b.stage], kind).append(text)
            if not owners and kind != "missing_caches":
                note = f"bake session (no single stage): {text}"
                run.notes.append(note)
                run.display.message(f"warning: {note}")
    return out


def _names_cache(text: str, specs: Iterable[object]) -> bool:
    """Whether a builder message names one of these caches (its ref or directory)."""
    for spec in specs:
        for part in str(spec).split(","):
            key, _, value = part.partition("=")
            if key in ("ref", "src", "dest") and value and mentions(text, value):
                return True
    return False


def one_per_step(steps: Iterable[Step], succeeded: bool) -> list[Step]:
    """In one bake session a stage's step is listed once per target that needs it, each
    with its own digest: one occurrence runs (or is a cache hit), the others are merged
    into it and may never even start. Keep the most telling one: failed, else ran, else
    cache hit, else never started.

    A step that started in no target of a bake that succeeded was not executed: BuildKit
    took a later step's result from cache, or merged the step into another whose progress
    it reports under a different stage. That is reported as a cache hit, as per-stage
    builds report the steps a cache hit makes unnecessary."""

    def rank(s: Step) -> int:
        if s.error:
            return 3
        if s.done:
            return 1 if s.cached else 2
        return 0

    best: dict[tuple[str | None, int], Step] = {}
    for s in steps:
        key = (s.platform, s.number)
        if key not in best or rank(s) > rank(best[key]):
            best[key] = s
    return [replace(s, cached=True) if succeeded and rank(s) == 0 else s for s in best.values()]


def check_bake_network(plan: BuildPlan, runner: Runner) -> None:
    """:func:`_check_bake_network_file` on the plan's bake file, written to a temporary file."""
    fd, path = tempfile.mkstemp(prefix="stagecache-bake-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(bakefile.definition(plan), fh, indent=2)
        _check_bake_network_file(plan, runner, path)
    finally:
        Path(path).unlink(missing_ok=True)


def _check_bake_network_file(plan: BuildPlan, runner: Runner, path: str) -> None:
    """Older buildx silently drops a bake target's ``network``; building anyway would run
    RUN steps on the default network, which is not what the config says."""
    printed = runner.bake_print(path)
    if any("network" not in t for t in (printed.get("target") or {}).values()):
        raise EnvironmentProblem(
            f'{plan.config.source}: [project].network = "{plan.config.network}" is set, but this buildx '
            f"({runner.engine_info().buildx_version}) ignores a bake target's network, so "
            'execution = "bake" would build on the default network. Use execution = "per-stage" '
            "(--execution per-stage), or a buildx that supports the bake network attribute."
        )
