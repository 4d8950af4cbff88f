"""One stage's build: run it, read BuildKit's progress into the stage's rows, keep or drop
its new local cache, push its image. The outcome is returned, never raised."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from stagecache import localcache, transient
from stagecache.errors import Cancelled, Interrupted, RegistryError, StagecacheError
from stagecache.failures import build_failure
from stagecache.plan import BuildPlan, StageBuild
from stagecache.progress import BuildProgress, LegacyProgress, Step
from stagecache.report import StageResult, base_of, step_results
from stagecache.runner import Runner

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

    from stagecache.bake import Display
    from stagecache.progress import Event


@dataclass(frozen=True)
class StageOutcome:
    """What one build did: its rows (the stage, and the unnamed stages built inside it), and
    the error that stopped it, if any (a failure, Cancelled or Interrupted)."""

    rows: tuple[StageResult, ...]
    error: StagecacheError | None = None


def stage_base(plan: BuildPlan, label: str, steps: Iterable[Step], default: str) -> str:
    """The image stage ``label`` starts from, as BuildKit resolved it (report.base_of); empty
    for a stage built FROM another stage."""
    stage = plan.stage_of(label)
    if stage is None or stage.base_stage is not None:
        return ""
    return base_of(label, stage.base, steps, default)


def detail(plan: BuildPlan, build: StageBuild) -> str:
    """The cache mode (and push) of a build, for the display."""
    cache = plan.mode.name + (f"/{plan.config.cache.registry_mode}" if plan.mode.name == "registry" else "")
    return f"cache {cache}" + (", push" if build.push else "")


def _finished(step: Step) -> bool:
    """A step that came from cache or ran to its end (a stopped build's running steps did not)."""
    return step.cached or (step.completed is not None and not step.error)


def _failed(step: Step) -> bool:
    """A step that failed on its own (not one BuildKit cancelled because another failed)."""
    return bool(step.error) and "context canceled" not in (step.error or "")


def build_stage(plan: BuildPlan, build: StageBuild, runner: Runner, display: Display) -> StageOutcome:
    """Build one stage. Its new local cache replaces the old one only if the build succeeded."""
    mine = set(build.reports)

    def on_event(e: Event) -> None:
        # A stage's build re-lists its upstream stages' steps (all cached): show only its own.
        if e.step is None or (e.step.stage or build.stage) in mine:
            display.event(e)

    t0 = time.monotonic()
    retries = 0
    stopped: Interrupted | Cancelled | None = None
    while True:
        progress = (LegacyProgress if plan.mode.legacy_builder else BuildProgress)(
            on_event=on_event, secrets=plan.secret_values
        )
        try:
            warning = localcache.prepare(build)
            if warning:
                display.message(f"warning: {build.stage}: {warning}")
            rc = runner.run(build.build, progress.feed)
        except (Interrupted, Cancelled) as exc:
            localcache.discard(build)
            stopped, rc = exc, -1
            progress.close()
            break
        except BaseException:
            localcache.discard(build)
            raise
        progress.close()
        # A build that lost a race with another build of the project (a --load of the same tag,
        # a cache export to the same ref) runs again: its steps are cached by then.
        # A step's error is the build's own failure, unless the build failed after solving (a lost
        # load race: BuildKit then also marks a step it shared with a concurrent build as failed).
        said = "\n".join(progress.error_lines())
        step_failed = progress.failed_step() is not None and not transient.LOAD_RACE.search(said)
        why = transient.reason(said) if rc != 0 and not step_failed else None
        if why is None or retries + 1 >= transient.ATTEMPTS:
            break
        retries += 1
        display.message(f"note: {build.stage}: building again after a transient error ({why})")
        transient.pause(retries)
    seconds = time.monotonic() - t0
    steps: dict[str, tuple] = {}
    only = build.platforms[0] if len(build.platforms) == 1 and len(plan.config.platforms) > 1 else None
    for label in build.reports:
        # A stopped or failed build reports the steps that had finished (cached or run) and the one
        # that failed, not the ones it never reached or cut short.
        own = [
            s
            for s in progress.steps.values()
            if (s.stage or build.stage) == label and (rc == 0 or _finished(s) or _failed(s))
        ]
        steps[label] = step_results(None, label, own, only, stage_for=functools.partial(plan.stage_of, label))
    # Unnamed or (with scope "final") upstream stages built inside this build get rows of their own.
    status = "built" if rc == 0 else "failed"
    if stopped is not None:
        status = "cancelled" if isinstance(stopped, Cancelled) else "interrupted"
    bases = {label: stage_base(plan, label, progress.steps.values(), build.stage) for label in build.reports}
    folded = tuple(
        StageResult(
            label, status, sum(st.seconds for st in steps[label]), steps[label], built_in=build.stage, base=bases[label]
        )
        for label in build.folded
    )
    result = StageResult(
        stage=build.stage,
        status=status,
        seconds=round(seconds, 3),
        steps=steps[build.stage],
        tags=build.tags,
        pushed=build.tags if (rc == 0 and build.push and not build.push_commands) else (),
        cache_from=tuple(str(s) for s in build.cache.cache_from) + build.cache.legacy_from,
        cache_to=tuple(str(s) for s in build.cache.cache_to),
        import_errors=tuple(progress.import_errors),
        missing_caches=tuple(progress.missing_caches),
        export_errors=tuple(progress.export_errors),
        export_seconds=round(progress.export_seconds, 3),
        retries=retries,
        base=bases[build.stage],
    )
    if stopped is not None:
        return StageOutcome((*folded, replace(result, pushed=())), stopped)
    if rc != 0:
        localcache.discard(build)
        return StageOutcome((*folded, result), build_failure(build, progress, rc, result))
    localcache.keep(build)
    if not build.push_commands:
        return StageOutcome((*folded, result))
    try:
        pushed_in, push_retries = push(build, runner, display)
    except RegistryError as exc:
        return StageOutcome((*folded, replace(result, status="failed")), exc)
    except (Interrupted, Cancelled) as exc:  # stopped during its push: built, not (all) pushed
        status = "cancelled" if isinstance(exc, Cancelled) else "interrupted"
        return StageOutcome((*folded, replace(result, status=status)), exc)
    result = replace(
        result,
        retries=result.retries + push_retries,
        pushed=build.tags,
        seconds=round(result.seconds + pushed_in, 3),
        export_seconds=round(result.export_seconds + pushed_in, 3),
    )
    return StageOutcome((*folded, result))


def push(build: StageBuild, runner: Runner, display: Display) -> tuple[float, int]:
    """Run the stage's ``docker push`` commands (see plan.push_with_docker); the seconds they
    took and how many were tried again. A failure names the stage and the ref, as a push inside
    a build would."""
    t0 = time.monotonic()
    retries = 0
    for cmd in build.push_commands:
        try:
            retries += runner.push(cmd, lambda note: display.message(f"note: {build.stage}: {note}"))
        except RegistryError as exc:
            raise RegistryError(
                f"stage '{build.stage}': the build ran but a registry operation failed: {exc.message}"
            ) from None
    return time.monotonic() - t0, retries
