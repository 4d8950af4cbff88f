"""``stagecache bake``: execute a :class:`~stagecache.plan.BuildPlan` stage by stage.

Checks first (secrets present, local cache directory safe), then builds each
stage in order (the engine itself is checked only to explain a failed build),
reading BuildKit's progress into per-step results. A local cache is written
to a fresh directory and swapped in only after its stage built, under a lock,
so a failed or interrupted bake leaves the previous cache exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from stagecache import dockerignore, localcache
from stagecache.errors import (
    BuildFailed,
    CacheGateFailed,
    Cancelled,
    EnvironmentProblem,
    Interrupted,
    RegistryError,
    StagecacheError,
    UsageError,
)
from stagecache.plan import BuildPlan, StageBuild
from stagecache.progress import BuildProgress, CacheFacts, Event, LegacyProgress, Step
from stagecache.report import BakeResult, StageResult, step_results
from stagecache.runner import Runner

_REGISTRY_FAILURES = (
    "failed to push",
    "error writing layer blob",
    "error writing manifest blob",
    "failed to do request",
    "connection refused",
    "unauthorized",
    "authentication required",
    "no basic auth credentials",
    "denied:",
)


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


def check_local_dir(plan: BuildPlan) -> None:
    """Refuse a local cache directory that is unsafe to create, replace or delete in.

    stagecache replaces folders inside it, so it must be a directory stagecache owns (see
    stagecache.localcache), never the project, the build context or a folder that holds them,
    and never sent to the builder as part of the context. Raises UsageError (exit 2) before
    anything is created."""
    cfg = plan.config
    if plan.mode.name != "local":
        return
    d = cfg.cache.local_dir
    key = f"{cfg.source}: key 'cache.local_dir'"
    own = "It must be a folder of its own, such as .stagecache/cache (stagecache creates and tags it)."
    home = Path.home().resolve()
    if d == Path(d.anchor) or d == home:
        raise UsageError(f"{key} is {d}; stagecache replaces folders inside it. {own}")
    for name, folder in (("project folder", cfg.root), ("build context", cfg.context)):
        if d == folder or d in folder.parents:
            raise UsageError(f"{key} is {d}, which holds the {name} {folder}; stagecache replaces folders in it. {own}")
    for p in (d, *d.parents):
        if p.is_symlink():
            raise UsageError(
                f"{key} ({d}) goes through the symlink {p}; use the real path so the cache cannot be redirected."
            )
    problem = localcache.problem(d)
    if problem:
        raise UsageError(f"{key}: {problem}, and stagecache replaces folders inside it. {own}")
    if cfg.context in d.parents and not dockerignore.excluded(cfg.context, d):
        rel = d.relative_to(cfg.context)
        top = rel.parts[0]
        raise UsageError(
            f"{cfg.source}: the local cache directory {d} is inside the build context {cfg.context} "
            f"and not excluded by its .dockerignore, so every build would send the cache as context "
            f"(and `COPY . .` would change with it). Add the line '{top}/' to "
            f"{cfg.context / '.dockerignore'}, or set cache.local_dir outside the context."
        )


def check_secrets(plan: BuildPlan, env: dict[str, str]) -> None:
    """Every configured secret must have a source now, or the build would fail halfway."""
    for secret in plan.config.secrets:
        if secret.env and secret.env not in env:
            raise UsageError(
                f"{plan.config.source}: key 'build.secrets.{secret.id}': environment variable "
                f"{secret.env} is not set. Export it before running stagecache."
            )
        if secret.file and not secret.file.is_file():
            raise UsageError(
                f"{plan.config.source}: key 'build.secrets.{secret.id}': file {secret.file} does not exist."
            )


def check_builder(plan: BuildPlan, runner: Runner) -> dict[str, str]:
    """Make sure the engine and builder can do what the plan asks; return version facts."""
    # builder_info asks for the engine's info side by side with its inspect; asking
    # engine_info first would make the two run one after the other.
    builder = None if plan.mode.legacy_builder else runner.builder_info(plan.config.builder)
    engine = runner.engine_info()
    facts = {
        "docker": engine.server_version,
        "buildx": engine.buildx_version,
        "containerd_store": str(engine.containerd_store).lower(),
    }
    if builder is None:
        return facts
    facts["builder"] = builder.name
    facts["driver"] = builder.driver
    if plan.mode.exports_cache and not builder.can_export_cache:
        raise EnvironmentProblem(
            f"cache mode '{plan.mode.name}' needs a builder that can export cache, but builder "
            f"'{builder.name}' uses the docker driver without the containerd image store. Fix it one of "
            "two ways: turn on the containerd image store (daemon.json: "
            '{"features": {"containerd-snapshotter": true}}, then restart dockerd), or create a '
            "docker-container builder (docker buildx create --name stagecache --driver docker-container) "
            "and set [project].builder = \"stagecache\". Cache mode 'inline' works on this builder as it is."
        )
    return facts


class EngineFacts:
    """:func:`check_builder`'s version facts, fetched in a thread alongside the builds."""

    def __init__(self, plan: BuildPlan, runner: Runner) -> None:
        self._facts: dict[str, str] = {}

        def fetch() -> None:
            with contextlib.suppress(StagecacheError):  # a failed build explains itself
                self._facts = check_builder(plan, runner)

        self._thread = threading.Thread(target=fetch, name="stagecache-facts", daemon=True)
        self._thread.start()

    def get(self) -> dict[str, str]:
        """Wait for the facts; {} when the engine could not be asked."""
        self._thread.join()
        return self._facts


def explain_failure(error: StagecacheError, plan: BuildPlan, runner: Runner) -> StagecacheError:
    """The error to report for a failed build: the engine check's own (exit 3) when the
    engine or builder is the cause, else ``error``.

    bake does not check the engine before building: that check costs about 0.6 s
    (python-on-whales' import and three docker calls), a third of a fully cached bake,
    and everything it looks at (daemon up, buildx present, builder usable, cache export
    supported) makes the first build fail before it builds or exports anything. So it
    runs here, only after a failure, to name the cause and the fix.
    """
    if not isinstance(error, (BuildFailed, RegistryError)):
        return error
    try:
        check_builder(plan, runner)
    except EnvironmentProblem as problem:
        return problem
    return error


def bake(
    plan: BuildPlan,
    runner: Runner,
    display: Display | None = None,
    options: BakeOptions | None = None,
) -> BakeResult:
    """Build every stage of ``plan``. Returns the result; on failure raises a
    StagecacheError whose ``result`` attribute holds what was done so far."""
    display = display or QuietDisplay()
    options = options or BakeOptions()
    started = time.monotonic()
    check_local_dir(plan)
    check_secrets(plan, runner.env)
    runner.docker_cmd  # noqa: B018 - no docker CLI: exit 3 before any output
    facts = EngineFacts(plan, runner) if options.engine_facts else None
    for w in plan.warnings:
        display.message(f"warning: {w}")

    results: list[StageResult] = []
    notes: list[str] = []
    status = "success"
    error: StagecacheError | None = None
    try:
        with localcache.lock(plan, display.message):
            for ref in (c.argv[-1] for c in plan.pulls):
                reason = runner.pull(ref)
                if reason:
                    display.message(f"note: no cached image {ref} ({reason}); it will be built.")
            run = _Run(plan, runner, display, results, started, notes)
            if plan.config.execution == "bake":
                _bake_session(run)
            else:
                _schedule(run)
    except Interrupted as exc:
        status, error = "interrupted", exc
    except StagecacheError as exc:
        status, error = "failed", explain_failure(exc, plan, runner) if options.check_builder else exc
    finally:
        display.close()
    # Plan order, whatever order parallel builds finished in: the same report either way.
    by_stage = {r.stage: r for r in results}
    ordered = []
    for build in plan.builds:
        for label in build.reports:
            if label in by_stage:
                ordered.append(by_stage.pop(label))
            elif label == build.stage:
                ordered.append(StageResult(stage=build.stage, status="skipped", tags=build.tags))
    results = ordered + list(by_stage.values())
    result = BakeResult(
        status=status,
        target=plan.target,
        cache_mode=plan.mode.name,
        registry_mode=plan.config.cache.registry_mode,
        stages=tuple(results),
        seconds=time.monotonic() - started,
        warnings=(*plan.warnings, *notes),
        engine=facts.get() if facts else {},
        frontend=plan.graph.frontend.to_json(),
    )
    if error is not None:
        if not isinstance(error, EnvironmentProblem):  # nothing was built: no summary
            error.result = result  # type: ignore[attr-defined]
        raise error
    return result


@dataclass(frozen=True)
class _Run:
    """What the two ways of executing a plan share: the plan, the runner, the display, the
    results collected so far, and the bake's start (for started_at / finished_at)."""

    plan: BuildPlan
    runner: Runner
    display: Display
    results: list[StageResult]
    started: float
    notes: list[str] = field(default_factory=list)
    """What the builder said of the whole run rather than of one stage (the report's warnings)."""


def _schedule(run: _Run) -> None:
    """Build every stage once the stages it needs are built, up to ``jobs`` at a time.

    After a failure no new stage starts; running ones finish, or are cancelled with
    ``on_failure = "cancel"``. Raises the first failure (or the interruption) with
    every finished stage already in ``results``.
    """
    plan, runner, display, results, started = run.plan, run.runner, run.display, run.results, run.started
    jobs = min(plan.config.effective_jobs, len(plan.builds)) or 1
    builds = {b.stage: b for b in plan.builds}
    needs = {b.stage: {u for u in b.upstream if u in builds} for b in plan.builds}
    pending = list(plan.builds)
    counter = iter(range(1, len(plan.builds) + 1))

    def begin(build: StageBuild) -> None:
        display.stage_started(build.stage, next(counter), len(plan.builds), _detail(plan, build))

    def finish(stage_results: list[StageResult], offset: float) -> None:
        now = time.monotonic() - started
        for r in stage_results:
            r = replace(r, started_at=round(offset, 3), finished_at=round(now, 3))
            results.append(r)
            display.stage_finished(r.stage, len(r.steps), r.cached, r.seconds, r.status)

    if jobs == 1:
        for build in pending:
            begin(build)
            offset = time.monotonic() - started
            try:
                finish(_build_stage(plan, build, runner, display), offset)
            except Interrupted:
                finish([StageResult(build.stage, "interrupted", tags=build.tags)], offset)
                raise
            except StagecacheError as exc:
                if isinstance(exc.result, list):
                    finish(exc.result, offset)
                    exc.result = None
                raise
        return

    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        runner.cancel(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread: the caller handles signals
            pass
    done_ok: set[str] = set()
    failure: StagecacheError | None = None
    running: dict[Future, tuple[StageBuild, float]] = {}
    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="stagecache-build") as pool:
            while True:
                if failure is None and not received:
                    for build in [b for b in pending if needs[b.stage] <= done_ok][: jobs - len(running)]:
                        pending.remove(build)
                        begin(build)
                        future = pool.submit(_build_stage, plan, build, runner, display)
                        running[future] = (build, time.monotonic() - started)
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    build, offset = running.pop(future)
                    try:
                        finish(future.result(), offset)
                        done_ok.add(build.stage)
                    except (Interrupted, Cancelled) as exc:
                        status = "cancelled" if isinstance(exc, Cancelled) else "interrupted"
                        finish([StageResult(build.stage, status, tags=build.tags)], offset)
                    except StagecacheError as exc:
                        if isinstance(exc.result, list):
                            finish(exc.result, offset)
                            exc.result = None
                        if failure is None:
                            failure = exc
                            if plan.config.on_failure == "cancel":
                                runner.cancel()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
    if received:
        raise Interrupted(received[0])
    if failure is not None:
        raise failure


def _bake_session(run: _Run) -> None:
    """``[build].execution = "bake"``: every stage in one ``docker buildx bake``, so BuildKit
    solves them in one session; per-stage results come from the one rawjson stream."""
    plan, runner, display, results, started = run.plan, run.runner, run.display, run.results, run.started
    import json
    import tempfile

    from stagecache import bakefile

    bakefile.check(plan)
    labels = [label for b in plan.builds for label in b.reports]
    by_label = {label: b for b in plan.builds for label in b.reports}
    for i, b in enumerate(plan.builds, 1):
        display.stage_started(b.stage, i, len(plan.builds), _detail(plan, b) + ", one bake session")
    progress = BuildProgress(
        on_event=lambda e: display.event(e) if e.step is None or (e.step.stage in by_label) else None,
        secrets=plan.secret_values,
    )
    for b in plan.builds:
        localcache.prepare(b)
    fd, path = tempfile.mkstemp(prefix="stagecache-bake-", suffix=".json")
    t0 = time.monotonic()
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(bakefile.definition(plan), fh, indent=2)
        if plan.config.network:
            _check_bake_network(plan, runner, path)
        rc = runner.run(bakefile.command(plan, path), progress.feed)
    except BaseException:
        for b in plan.builds:
            localcache.discard(b)
        raise
    finally:
        Path(path).unlink(missing_ok=True)
    progress.close()
    offset = t0 - started
    failed = progress.failed_step()
    facts = _session_facts(plan, progress, run.notes, run.display)
    single = plan.graph.stages[0].label if len(plan.graph.stages) == 1 else ""
    stage_results: list[StageResult] = []
    for label in labels:
        b = by_label[label]
        own = _one_per_step((s for s in progress.steps.values() if (s.stage or single) == label), rc == 0)
        steps = step_results(plan.stage_of(label), label, own)
        times = [t for s in own for t in (s.started, s.completed) if t is not None]
        span = max(times) - min(times) if times else 0.0
        if rc == 0:
            status = "built"
        elif failed is not None and (failed.stage or single) == label:
            status = "failed"
        else:
            status = "built" if own and all(s.done and not s.error for s in own) else "cancelled"
        is_build = label == b.stage
        stage_results.append(
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
                started_at=round(offset, 3),
                finished_at=round(time.monotonic() - started, 3),
            )
        )
    if rc != 0:
        for b in plan.builds:
            localcache.discard(b)
        results.extend(stage_results)
        for r in stage_results:
            display.stage_finished(r.stage, len(r.steps), r.cached, r.seconds, r.status)
        failing = next(
            (b for b in plan.builds if failed is not None and (failed.stage or single) in b.reports), plan.builds[-1]
        )
        raise _failure(plan, failing, progress, rc, stage_results[-1])
    for b in plan.builds:
        localcache.keep(b)
    for i, b in enumerate(plan.builds):  # only once every stage is built: a failed session pushes nothing
        try:
            _push(b, runner)
        except RegistryError:
            unpushed = {later.stage for later in plan.builds[i:]}
            results.extend(
                replace(r, pushed=(), status="failed" if r.stage == b.stage else r.status) if r.stage in unpushed else r
                for r in stage_results
            )
            raise
    results.extend(stage_results)
    for r in stage_results:
        display.stage_finished(r.stage, len(r.steps), r.cached, r.seconds, r.status)


def _session_facts(
    plan: BuildPlan, progress: BuildProgress, notes: list[str], display: Display
) -> dict[str, CacheFacts]:
    """Cache import/export facts of one bake session, per stage build.

    BuildKit names the bake target on its own vertices (``[app] importing cache manifest from
    ...``); buildx's plain WARNING lines name the cache's ref or directory instead, which
    belongs to the builds that import it. What names neither is said of the whole session."""
    from stagecache import bakefile

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
                notes.append(note)
                display.message(f"warning: {note}")
    return out


def _names_cache(text: str, specs: Iterable[object]) -> bool:
    """Whether a builder message names one of these caches (its ref or directory)."""
    import re

    for spec in specs:
        for part in str(spec).split(","):
            key, _, value = part.partition("=")
            if key in ("ref", "src", "dest") and value and re.search(re.escape(value) + r"(?![\w./-])", text):
                return True
    return False


def _one_per_step(steps: Iterable[Step], succeeded: bool) -> list[Step]:
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


def _check_bake_network(plan: BuildPlan, runner: Runner, path: str) -> None:
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


def check_gate(result: BakeResult, plan: BuildPlan) -> None:
    """The cache-hit gate: raise CacheGateFailed (exit 4) when the overall hit ratio is under
    ``[cache].fail_under`` / --fail-under, or a stage's under its ``[stages.X].fail_under``."""
    cfg = plan.config
    problems = []
    overall = cfg.cache.fail_under
    if overall is not None and result.steps and (result.hit_ratio or 0.0) * 100 < overall:
        problems.append(f"{(result.hit_ratio or 0.0) * 100:.0f}% of all steps were cache hits, under {overall:g}%")
    for s in result.stages:
        limit = cfg.stage_settings(s.stage).fail_under
        if limit is not None and s.steps and (s.hit_ratio or 0.0) * 100 < limit:
            problems.append(f"stage '{s.stage}' hit {(s.hit_ratio or 0.0) * 100:.0f}%, under its {limit:g}%")
    if not problems:
        return
    missed = ", ".join(f"{s.stage} {s.cached}/{len(s.steps)}" for s in result.stages if s.cached < len(s.steps))
    error = CacheGateFailed(
        f"cache-hit gate failed: {'; '.join(problems)}. Stages that missed: {missed or 'none'}. "
        "The build itself succeeded; look for cache import warnings above, a changed early input, "
        "or a cache ref that was not exported by the last run."
    )
    error.result = result
    raise error


def _detail(plan: BuildPlan, build: StageBuild) -> str:
    cache = plan.mode.name + (f"/{plan.config.cache.registry_mode}" if plan.mode.name == "registry" else "")
    return f"cache {cache}" + (", push" if build.push else "")


def _build_stage(plan: BuildPlan, build: StageBuild, runner: Runner, display: Display) -> list[StageResult]:
    mine = set(build.reports)

    def on_event(e: Event) -> None:
        # A stage's build re-lists its upstream stages' steps (all cached): show only its own.
        if e.step is None or (e.step.stage or build.stage) in mine:
            display.event(e)

    progress = (LegacyProgress if plan.mode.legacy_builder else BuildProgress)(
        on_event=on_event, secrets=plan.secret_values
    )
    localcache.prepare(build)
    t0 = time.monotonic()
    try:
        rc = runner.run(build.build, progress.feed)
    except BaseException:
        localcache.discard(build)
        raise
    progress.close()
    seconds = time.monotonic() - t0
    steps: dict[str, tuple] = {}
    for label in build.reports:
        stage = plan.stage_of(label)
        own = [s for s in progress.steps.values() if (s.stage or build.stage) == label]
        only = build.platforms[0] if len(build.platforms) == 1 and len(plan.config.platforms) > 1 else None
        steps[label] = step_results(stage, label, own, only)
    # Unnamed or (with scope "final") upstream stages built inside this build get rows of their own.
    status = "built" if rc == 0 else "failed"
    folded = [
        StageResult(label, status, sum(st.seconds for st in steps[label]), steps[label], built_in=build.stage)
        for label in build.folded
    ]
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
    )
    if rc != 0:
        localcache.discard(build)
        error = _failure(plan, build, progress, rc, result)
        error.result = [*folded, result]
        raise error
    localcache.keep(build)
    if build.push_commands:
        try:
            pushed_in = _push(build, runner)
        except RegistryError as exc:
            exc.result = [*folded, replace(result, status="failed")]
            raise
        result = replace(
            result,
            pushed=build.tags,
            seconds=round(result.seconds + pushed_in, 3),
            export_seconds=round(result.export_seconds + pushed_in, 3),
        )
    return [*folded, result]


def _push(build: StageBuild, runner: Runner) -> float:
    """Run the stage's ``docker push`` commands (see plan.push_with_docker); the seconds
    they took. A failure names the stage and the ref, as a push inside a build would."""
    t0 = time.monotonic()
    for cmd in build.push_commands:
        try:
            runner.push(cmd)
        except RegistryError as exc:
            raise RegistryError(
                f"stage '{build.stage}': the build ran but a registry operation failed: {exc.message}"
            ) from None
    return time.monotonic() - t0


def _failure(
    plan: BuildPlan, build: StageBuild, progress: BuildProgress | LegacyProgress, rc: int, result: StageResult
) -> StagecacheError:
    lines = progress.error_lines()
    step = progress.failed_step()
    where = f"stage '{build.stage}'"
    if step is not None:
        where += f", step {step.number} ({' '.join(step.instruction.split())[:100]})"
    detail = "\n".join(f"  {ln}" for ln in lines[-8:]) or "  (no error text from the builder)"
    logs = ""
    if step is not None and step.logs:
        logs = "\nlast output of the step:\n" + "\n".join(f"  | {ln}" for ln in list(step.logs)[-10:])
    text = "\n".join(lines).lower()
    if step is None and any(marker in text for marker in _REGISTRY_FAILURES):
        refs = ", ".join(build.tags if build.push else ()) or ", ".join(result.cache_to)
        return RegistryError(f"{where}: the build ran but a registry operation failed ({refs}), exit {rc}:\n{detail}")
    return BuildFailed(f"{where} failed (builder exit {rc}):\n{detail}{logs}")
