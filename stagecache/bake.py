"""``stagecache bake``: execute a :class:`~stagecache.plan.BuildPlan`.

Checks first (secrets present, local cache directory safe: stagecache.preflight), then the
builds, per stage (stagecache.scheduler) or in one bake session (stagecache.session), reading
BuildKit's progress into per-step results; the engine itself is checked only to explain a
failed build. A local cache is written to a fresh directory and swapped in only after its
stage built, under a lock, so a failed or interrupted bake leaves the previous cache exactly
as it was. Whatever happens, the result says what was done: :func:`run_bake` returns it, with
the error that stopped the bake, if any.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from stagecache import fastpath, localcache, why
from stagecache.errors import CacheGateFailed, Interrupted, StagecacheError
from stagecache.execution import Execution
from stagecache.plan import BuildPlan
from stagecache.preflight import EngineFacts, check_local_dir, check_secrets, explain_failure
from stagecache.progress import Event
from stagecache.report import BakeResult, StageResult
from stagecache.runner import Runner
from stagecache.scheduler import schedule
from stagecache.session import bake_session, check_bake_network


class Display(Protocol):
    """What bake tells the user while it runs (see stagecache.display)."""

    def stage_started(self, stage: str, index: int, count: int, detail: str) -> None: ...
    def event(self, e: Event) -> None: ...
    def stage_finished(self, stage: str, steps: int, cached: int, seconds: float, status: str) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


class QuietDisplay:
    """A display that shows nothing (library use, benchmarks)."""

    def stage_started(self, stage: str, index: int, count: int, detail: str) -> None:  # noqa: D102
        pass

    def event(self, e: Event) -> None:  # noqa: D102
        pass

    def stage_finished(self, stage: str, steps: int, cached: int, seconds: float, status: str) -> None:  # noqa: D102
        pass

    def message(self, text: str) -> None:  # noqa: D102
        pass

    def close(self) -> None:  # noqa: D102
        pass


@dataclass(frozen=True)
class BakeOptions:
    """Knobs that do not change what is built."""

    check_builder: bool = True
    """After a failed build, check the engine and builder to name the cause (exit 3)."""
    engine_facts: bool = False
    """Record docker, buildx and builder versions in the result (for ``--report``)."""


def run_bake(
    plan: BuildPlan,
    runner: Runner,
    display: Display | None = None,
    options: BakeOptions | None = None,
) -> BakeResult:
    """Build every stage of ``plan`` and return what was done. ``result.error`` is the error
    that stopped the bake (a failed stage, an interruption, an engine problem), else None.
    Checks that fail before anything starts (bad secrets, an unsafe cache directory) raise."""
    display = display or QuietDisplay()
    options = options or BakeOptions()
    started = time.monotonic()
    check_local_dir(plan)
    check_secrets(plan, runner.env)
    runner.docker_cmd  # noqa: B018 - no docker CLI: exit 3 before any output
    facts = EngineFacts(plan, runner) if options.engine_facts else None
    for w in plan.warnings:
        display.message(f"warning: {w}")
    created = plan.mode.name == "local" and not plan.config.cache.local_dir.exists()
    run = Execution(plan, runner, display, started)
    runner.reset()
    try:
        with runner.interruptible():
            with localcache.lock(plan, display.message), _explained(run) as record:
                if created:
                    display.message(f"note: {localcache.first_use(plan.config)}")
                for ref in (c.argv[-1] for c in plan.pulls):
                    if runner.cancelled:  # a Ctrl-C between two pulls: no next pull
                        break
                    reason = runner.pull(ref)
                    if reason:
                        display.message(f"note: no cached image {ref} ({reason}); it will be built.")
                execute = bake_session if plan.config.execution == "bake" else schedule
                if plan.probe is None:
                    execute(run)
                else:
                    if plan.config.execution == "bake" and plan.config.network:
                        check_bake_network(plan, runner)  # before the first build, not after it
                    fastpath.bake(run, execute, record)
    except Interrupted as exc:  # a signal that came when no build was running
        run.fail(exc)
    except StagecacheError as exc:
        run.fail(exc)
    finally:
        display.close()
    error = run.error
    if error is not None and not isinstance(error, Interrupted) and options.check_builder:
        error = explain_failure(error, plan, runner)
    status = "success" if error is None else "interrupted" if isinstance(error, Interrupted) else "failed"
    engine = facts.get() if facts else {}
    if facts and facts.problem:
        run.notes.append(facts.problem)
    return BakeResult(
        status=status,
        target=plan.target,
        cache_mode=plan.mode.name,
        registry_mode=plan.config.cache.registry_mode,
        stages=_in_plan_order(plan, run.rows),
        seconds=time.monotonic() - started,
        warnings=(*plan.warnings, *run.notes),
        engine=engine,
        frontend=plan.graph.frontend.to_json(),
        error=error,
    )


@contextlib.contextmanager
def _explained(run: Execution) -> Iterator[why.Record]:
    """Read the stored input manifests before the builds; after them (however they ended),
    name each stage's first miss and store the manifests of the caches written (stagecache.why)."""
    record = why.Record.start(run.plan, run.runner.env)
    try:
        yield record
    finally:
        run.rows[:] = record.finish(run.rows, complete=run.error is None)
        run.notes.extend(record.notes)


def bake(
    plan: BuildPlan,
    runner: Runner,
    display: Display | None = None,
    options: BakeOptions | None = None,
) -> BakeResult:
    """:func:`run_bake`, raising the error that stopped the bake, if any."""
    result = run_bake(plan, runner, display, options)
    if result.error is not None:
        raise result.error
    return result


def _in_plan_order(plan: BuildPlan, rows: list[StageResult]) -> tuple[StageResult, ...]:
    """Rows in plan order, whatever order parallel builds finished in (the same report either
    way); a stage that never started is "skipped"."""
    by_stage = {r.stage: r for r in rows}
    ordered = []
    for build in plan.builds:
        for label in build.reports:
            if label in by_stage:
                ordered.append(by_stage.pop(label))
            elif label == build.stage:
                ordered.append(StageResult(stage=build.stage, status="skipped", tags=build.tags))
    return tuple(ordered + list(by_stage.values()))


def with_gate(result: BakeResult, plan: BuildPlan) -> BakeResult:
    """``result`` with the cache-hit gate's verdict (``gate``), when one is configured: what
    the report records, and what :func:`check_gate` raises on."""
    cfg = plan.config
    if cfg.cache.fail_under is None and all(s.fail_under is None for _, s in cfg.stages):
        return result
    return replace(result, gate=tuple(_gate_problems(result, plan)))


def check_gate(result: BakeResult, plan: BuildPlan) -> None:
    """The cache-hit gate: raise CacheGateFailed (exit 4) when the overall hit ratio is under
    ``[cache].fail_under`` / --fail-under, or a stage's under its ``[stages.X].fail_under``."""
    problems = _gate_problems(result, plan)
    if not problems:
        return
    missed = ", ".join(f"{s.stage} {s.cached}/{len(s.steps)}" for s in result.stages if s.cached < len(s.steps))
    raise CacheGateFailed(
        f"cache-hit gate failed: {'; '.join(problems)}. Stages that missed: {missed or 'none'}. "
        "The build itself succeeded; look for cache import warnings above, a changed early input, "
        "or a cache ref that was not exported by the last run."
    )


def _gate_problems(result: BakeResult, plan: BuildPlan) -> list[str]:
    cfg = plan.config
    problems = []
    overall = cfg.cache.fail_under
    if overall is not None and result.steps and (result.hit_ratio or 0.0) * 100 < overall:
        problems.append(f"{(result.hit_ratio or 0.0) * 100:.0f}% of all steps were cache hits, under {overall:g}%")
    for s in result.stages:
        limit = cfg.stage_settings(s.stage).fail_under
        if limit is not None and s.steps and (s.hit_ratio or 0.0) * 100 < limit:
            problems.append(f"stage '{s.stage}' hit {(s.hit_ratio or 0.0) * 100:.0f}%, under its {limit:g}%")
    return problems
