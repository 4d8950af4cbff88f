"""``stagecache bench``: measure caching strategies side by side on real builds.

For each strategy (see :mod:`stagecache.strategies`): fill its caches with one
unmeasured bake, then for each repetition and scenario apply the scenario
(edit a file of the *copy* of the build context, simulate a fresh CI runner)
and measure one bake. Every strategy gets its own image repository
(``IMAGE/bench-STRATEGY``) and local cache directory, so strategies never share
cache; what the bench created is deleted afterwards unless ``keep``.

The user's files are never touched: builds run on a temporary copy of the
build context.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from stagecache import config as configmod
from stagecache import localcache, reference, refs
from stagecache import strategies as strategymod
from stagecache.bake import BakeOptions, Display, QuietDisplay, run_bake
from stagecache.cache import get_mode
from stagecache.config import Config, Edit
from stagecache.errors import Interrupted, StagecacheError, UsageError
from stagecache.plan import load_graphs, make_plan
from stagecache.preflight import check_builder
from stagecache.registry import RegistryClient, docker_credentials
from stagecache.report import StageResult, StageTotals, StepResult
from stagecache.runner import Runner
from stagecache.strategies import BAKE_SUFFIX, DEFAULT_EDIT_SCENARIOS, STRATEGIES, Scenario, Strategy

POPULATE = "populate"


@dataclass(frozen=True)
class BenchOptions:
    """What to run: resolved from flags > [bench] config > defaults by :func:`resolve_options`."""

    strategies: tuple[str, ...]
    scenarios: tuple[str, ...]
    repeat: int = 1
    allow_prune: bool = False
    keep: bool = False
    layers_scenario: str = ""
    notes: tuple[str, ...] = ()
    classic_context: str = ""
    """The docker context the classic-* strategies run on ("" = the same engine as the others)."""


@dataclass(frozen=True)
class Run(StageTotals):
    """One bake the bench ran (``scenario`` is ``populate`` for the unmeasured one)."""

    strategy: str
    scenario: str
    index: int
    status: str  # "success" | "failed" | "interrupted"
    seconds: float
    stages: tuple[StageResult, ...] = ()
    error: str = ""
    signal: int = 0
    """The signal that interrupted it (status "interrupted")."""

    @property
    def export_seconds(self) -> float:
        """Time spent exporting cache in this bake."""
        return sum(s.export_seconds for s in self.stages)


@dataclass(frozen=True)
class StrategyOutcome:
    """Per-strategy figures that are not per run."""

    strategy: Strategy
    image: str
    cache_bytes: int | None = None
    cache_location: str = ""
    error: str = ""
    engine: str = ""
    """The engine it ran on: ``context 'NAME' (ENDPOINT), classic store``."""


@dataclass(frozen=True)
class Cell:
    """A strategy x scenario: its measured runs."""

    strategy: str
    scenario: str
    runs: tuple[Run, ...]

    @property
    def ok(self) -> bool:
        """Every run succeeded (and there was at least one)."""
        return bool(self.runs) and all(r.status == "success" for r in self.runs)

    @property
    def seconds(self) -> tuple[float, float, float] | None:
        """(median, min, max) wall seconds of the successful runs."""
        values = [r.seconds for r in self.runs if r.status == "success"]
        if not values:
            return None
        return statistics.median(values), min(values), max(values)

    @property
    def hit_ratio(self) -> float | None:
        """Hits / steps over the successful runs."""
        runs = [r for r in self.runs if r.status == "success"]
        steps = sum(r.steps for r in runs)
        return sum(r.cached for r in runs) / steps if steps else None


@dataclass(frozen=True)
class BenchResult:
    """Everything a bench measured."""

    status: str  # "complete" | "failed" | "interrupted"
    target: str
    dockerfile: str
    stage_order: tuple[str, ...]
    options: BenchOptions
    outcomes: tuple[StrategyOutcome, ...]
    runs: tuple[Run, ...]
    wall_seconds: float
    docker_seconds: float
    """Wall time a docker command was running (overlapping commands count once)."""
    own_cpu_seconds: float = 0.0
    """CPU time of the stagecache process itself (every thread: planning, reading BuildKit's
    stream, the display), measured directly: docker's processes are not in it, and waiting
    for them costs none."""
    engine: dict[str, str] = field(default_factory=dict)
    signal: int = 0
    """The signal that interrupted the bench (status "interrupted"), else 0."""
    engine_notes: tuple[str, ...] = ()
    """What the reader of the table must know of the engines the strategies ran on."""

    def cell(self, strategy: str, scenario: str) -> Cell:
        """The measured runs of one strategy in one scenario."""
        runs = tuple(r for r in self.runs if r.strategy == strategy and r.scenario == scenario)
        return Cell(strategy, scenario, runs)

    @property
    def overhead_seconds(self) -> float:
        """stagecache's own work: its CPU time (see ``own_cpu_seconds``)."""
        return self.own_cpu_seconds

    @property
    def overhead_ratio(self) -> float | None:
        """Overhead / wall time."""
        return self.overhead_seconds / self.wall_seconds if self.wall_seconds else None

    def best(self, scenario: str) -> str | None:
        """The strategy with the lowest median time in ``scenario``."""
        cells = (self.cell(o.strategy.name, scenario) for o in self.outcomes)
        timed = [(seconds[0], c.strategy) for c in cells if c.ok and (seconds := c.seconds) is not None]
        return min(timed)[1] if timed else None

    def layers(self, scenario: str) -> list[tuple[str, int, int | None, str, dict[str, StepResult]]]:
        """One row per Dockerfile instruction that ran: (stage, step, line, instruction,
        {strategy: its step in the last successful run of ``scenario``})."""
        rows: dict[tuple[str, int], tuple[int | None, str, dict[str, StepResult]]] = {}
        for o in self.outcomes:
            runs = [r for r in self.cell(o.strategy.name, scenario).runs if r.status == "success"]
            if not runs:
                continue
            for stage in runs[-1].stages:
                for st in stage.steps:
                    line, text, cells = rows.setdefault((st.stage, st.number), (st.line, st.instruction, {}))
                    cells[o.strategy.name] = st
        order = {name: i for i, name in enumerate(self.stage_order)}
        keys = sorted(rows, key=lambda k: (order.get(k[0], len(order)), k[1]))
        return [(k[0], k[1], rows[k][0], rows[k][1], rows[k][2]) for k in keys]

    def cause(self, strategy: str, scenario: str, stage: str, step: int) -> str:
        """Why ``step`` of ``stage`` missed in the last successful run of the cell, when it was
        the stage's first miss (stagecache.explain), else ""."""
        runs = [r for r in self.cell(strategy, scenario).runs if r.status == "success"]
        for row in runs[-1].stages if runs else ():
            if row.stage == stage and row.first_miss is not None and row.first_miss.step == step:
                return row.first_miss.cause
        return ""


class BenchDisplay(Display, Protocol):
    """What the bench shows while it runs (see stagecache.display)."""

    def run_started(self, position: int, total: int, strategy: str, scenario: str, index: int, repeat: int) -> None:
        """A bake begins."""

    def run_finished(self, run: Run) -> None:
        """A bake ended."""


class _QuietBench(QuietDisplay):
    def run_started(self, position: int, total: int, strategy: str, scenario: str, index: int, repeat: int) -> None:
        pass

    def run_finished(self, run: Run) -> None:
        pass


def resolve_options(
    config: Config,
    strategies: Sequence[str] = (),
    scenarios: Sequence[str] = (),
    repeat: int | None = None,
    allow_prune: bool = False,
    keep: bool = False,
    layers_scenario: str | None = None,
    executions: Sequence[str] = (),
    classic_context: str | None = None,
) -> BenchOptions:
    """Work out what to run, and refuse what cannot or must not run, before anything runs."""
    settings = config.bench
    notes: list[str] = []
    names = tuple(dict.fromkeys(strategies or settings.strategies))
    for name in names:
        try:
            strategymod.get(name)
        except KeyError:
            raise UsageError(
                f"unknown strategy '{name}'; strategies are: {', '.join(STRATEGIES)} (add '{BAKE_SUFFIX}' to run "
                "one in a single buildx bake session; not the classic ones)."
            ) from None
    registry = reference.names_registry(config.image)
    if not names:
        names = tuple(s for s in STRATEGIES if registry or not get_mode(STRATEGIES[s].mode).needs_registry)
        if not registry:
            notes.append(
                f"only strategies that need no registry are run, because [project].image ({config.image}) names "
                "no registry; set it to a repository you can push to (e.g. localhost:5000/app) to compare them all."
            )
    for execution in executions:
        if execution not in configmod.EXECUTIONS:
            raise UsageError(f"--execution must be per-stage or bake, not '{execution}'.")
    if "bake" in executions:
        bakeable = [n + BAKE_SUFFIX for n in names if STRATEGIES[n.removesuffix(BAKE_SUFFIX)].mode != "classic"]
        names = tuple(dict.fromkeys([*(names if "per-stage" in executions else ()), *bakeable]))
        if any(STRATEGIES[n.removesuffix(BAKE_SUFFIX)].mode == "classic" for n in names):
            notes.append("classic strategies run per stage only: the legacy builder has no bake equivalent.")
    if not registry:
        needing = [n for n in names if get_mode(strategymod.get(n).mode).needs_registry]
        if needing:
            raise UsageError(
                f"{config.source}: strategies {', '.join(needing)} keep their cache in a registry, but "
                f"[project].image ({config.image}) names no registry host. Set [project].image to a repository "
                "you can push to (e.g. localhost:5000/app), or run only 'none' and 'local'."
            )

    declared = [e.scenario for e in settings.edits]
    chosen = tuple(dict.fromkeys(scenarios or settings.scenarios))
    if not chosen:
        ordered = [s for s in DEFAULT_EDIT_SCENARIOS if s in declared] + [
            s for s in declared if s not in DEFAULT_EDIT_SCENARIOS
        ]
        chosen = ("warm", "cold", *ordered)
        missing = [s for s in DEFAULT_EDIT_SCENARIOS if s not in declared]
        if missing:
            notes.append(
                f"scenarios {', '.join(missing)} are not run: declare their edits under [bench.edits] "
                '(e.g. cold-edit-source = { file = "src/main.c", append = "// edit" }).'
            )
    parsed = []
    for name in chosen:
        try:
            parsed.append(Scenario.parse(name))
        except ValueError:
            raise UsageError(
                f"unknown scenario '{name}'; scenarios are warm, cold, or warm-edit-NAME / cold-edit-NAME "
                "declared under [bench.edits]."
            ) from None
        if parsed[-1].edit:
            edit = settings.edit(name)
            if edit is None:
                raise UsageError(
                    f"{config.source}: scenario '{name}' has no edit; add it under [bench.edits], e.g. "
                    f'{name} = {{ file = "path/in/context", append = "// bench edit" }}.'
                )
            _check_edit_file(config, edit)

    allow_prune = allow_prune or settings.allow_prune
    if any(s.fresh_runner for s in parsed) and not allow_prune:
        cold = ", ".join(s.name for s in parsed if s.fresh_runner)
        raise UsageError(
            f"scenarios {cold} simulate a fresh CI runner, which prunes the builder's whole build cache "
            "(`docker buildx prune --all`) and removes the bench's images. On a shared engine that destroys "
            "other people's cache. Run it where that is fine and pass --allow-prune (or set "
            "[bench].allow_prune = true for a dedicated builder), or run only --scenario warm."
        )
    repeat = settings.repeat if repeat is None else repeat
    if not 1 <= repeat <= 100:
        raise UsageError(f"--repeat must be from 1 to 100, not {repeat}.")
    layers = layers_scenario or settings.layers_scenario
    if layers and layers not in chosen:
        raise UsageError(f"the layers scenario '{layers}' is not among the scenarios run ({', '.join(chosen)}).")
    if not layers:
        layers = next((s for s in ("cold-edit-source", "cold") if s in chosen), chosen[-1])
    classic = settings.classic_context
    if classic_context is not None:
        classic = configmod.checked_docker_context(classic_context, "--classic-context")
    return BenchOptions(
        classic_context=classic,
        strategies=names,
        scenarios=chosen,
        repeat=repeat,
        allow_prune=allow_prune,
        keep=keep,
        layers_scenario=layers,
        notes=tuple(notes),
    )


def _check_edit_file(config: Config, edit: Edit) -> None:
    path = config.context / edit.file
    inside = path.resolve().is_relative_to(config.context.resolve())
    if not inside or not path.is_file() or path.is_symlink():
        raise UsageError(
            f"{config.source}: key 'bench.edits.{edit.scenario}.file': {edit.file} is not a regular file in the "
            f"build context {config.context}"
            + ("" if inside else " (the path leaves it through a symbolic link)")
            + ". bench edits a copy of the context, and only files inside it."
        )


def _in_copy(workspace: _Workspace, rel: str) -> Path:
    """The copy's file ``rel``, refused if it resolves outside the copy: the copy keeps the
    context's symbolic links as links, and a link may point at the user's real files."""
    path = workspace.context / rel
    real = path.resolve()
    if not real.is_relative_to(workspace.context.resolve()) or path.is_symlink() or not real.is_file():
        raise UsageError(
            f"bench edit of {rel}: the path goes through a symbolic link out of the bench's copy of the build "
            f"context (to {real}); bench writes only inside its copy. Edit a file that is not behind a link."
        )
    return real


@dataclass(frozen=True)
class _Workspace:
    root: Path
    context: Path
    dockerfile: Path
    originals: dict[Path, bytes]


def _copy_context(config: Config, root: Path, edits: Sequence[Edit]) -> _Workspace:
    context = root / "context"
    skip = {config.cache.local_dir}

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if Path(folder, n) in skip]

    shutil.copytree(config.context, context, symlinks=True, ignore=ignore)
    dockerfile = config.dockerfile
    if config.context in dockerfile.parents:
        dockerfile = context / dockerfile.relative_to(config.context)
    workspace = _Workspace(root, context, dockerfile, {})
    workspace.originals.update({_in_copy(workspace, e.file): _in_copy(workspace, e.file).read_bytes() for e in edits})
    return workspace


def strategy_config(config: Config, strategy: Strategy, root: Path, context: Path, dockerfile: Path) -> Config:
    """The config a strategy builds with: the copied context, its own image repository,
    default ref/tag templates (so a template naming a real repository is never written to),
    no extra tags, and its own local cache directory."""
    slug = strategy.name.replace("+", "-")  # "local+bake": '+' is not allowed in a repository
    image = f"{config.image}/bench-{slug}"
    problem = refs.check_repository(image)
    if problem:
        raise UsageError(f"the bench repository {image!r} is invalid: {problem}.")
    cache = replace(
        config.cache,
        mode=strategy.mode,
        registry_mode=strategy.registry_mode,
        ref=configmod.DEFAULT_REF_TEMPLATE,
        tag=configmod.DEFAULT_TAG_TEMPLATE,
        local_dir=root / "cache" / slug,
    )
    return replace(
        config,
        root=root,
        context=context,
        dockerfile=dockerfile,
        image=image,
        tags=(),
        stages=(),
        push=None,
        cache=cache,
        execution=strategy.execution,
    )


_COMMENT_ENDS = ("*/", "-->", "*)")


def edit_line(append: str, token: str) -> str:
    """The line an edit appends: ``append`` with ``{token}`` replaced by a unique token. Without
    the placeholder the token goes at the end, or before a closing ``*/`` / ``-->`` so that a
    comment stays a comment."""
    if "{token}" in append:
        return append.replace("{token}", token)
    for end in _COMMENT_ENDS:
        if append.rstrip().endswith(end):
            head = append.rstrip()[: -len(end)].rstrip()
            return f"{head} {token} {end}"
    return f"{append} {token}"


def _apply_edit(workspace: _Workspace, edit: Edit, token: str) -> None:
    path = _in_copy(workspace, edit.file)
    data = path.read_bytes()
    sep = b"" if not data or data.endswith(b"\n") else b"\n"
    path.write_bytes(data + sep + (edit_line(edit.append, token) + "\n").encode())


def _restore(workspace: _Workspace) -> None:
    for path, data in workspace.originals.items():
        path.write_bytes(data)


def run_bench(
    config: Config,
    options: BenchOptions,
    runner: Runner,
    display: BenchDisplay | None = None,
    workdir: Path | None = None,
    on_run: Callable[[Run], None] | None = None,
) -> BenchResult:
    """Run the matrix. Returns the result; on Ctrl-C returns what was measured so far
    with status ``interrupted`` (the caller decides the exit code)."""
    display = display or _QuietBench()
    started = time.monotonic()
    cpu_before = time.process_time()
    classic = runner.with_context(options.classic_context) if options.classic_context else runner
    runners = {name: classic if strategymod.get(name).mode == "classic" else runner for name in options.strategies}
    # The engines the bench uses: --context's (it reads the Dockerfile's frontend there), and the
    # classic one when a strategy runs there.
    used = [runner, *([classic] if classic is not runner and classic in runners.values() else [])]
    docker_before = [r.docker_seconds for r in used]
    graphs = load_graphs(config, lambda: runner.builtin_frontend_is_current(config.builder))
    target = graphs[0].resolve_target(config.target or None)
    order = tuple(s.label for s in graphs[0].order(target))
    scenarios = [Scenario.parse(s) for s in options.scenarios]
    edits = [e for s in scenarios if s.edit and (e := config.bench.edit(s.name))]

    tmp = Path(tempfile.mkdtemp(prefix="stagecache-bench-", dir=workdir))
    untagged_before: dict[int, set[str]] = {}
    cleanup: list[str] = []
    runs: list[Run] = []
    outcomes: list[StrategyOutcome] = []
    engine: dict[str, str] = {}
    notes: list[str] = []
    status = "complete"
    signum = 0
    total = len(options.strategies) * (1 + len(scenarios) * options.repeat)
    position = 0
    try:
        workspace = _copy_context(config, tmp, edits)
        plans = {}
        for name in options.strategies:
            strategy = strategymod.get(name)
            cfg = strategy_config(config, strategy, tmp, workspace.context, workspace.dockerfile)
            plans[name] = make_plan(cfg, graphs=graphs, scope=strategy.scope, no_cache=strategy.no_cache)
        # Check the builder once for every mode, before the first build.
        engines: dict[str, str] = {}
        for name, plan in plans.items():
            facts = check_builder(plan, runners[name])
            # The facts of --context's engine; of the classic one when every strategy ran there.
            if runners[name] is runner or all(r is runners[name] for r in runners.values()):
                engine.update(facts)
            info = runners[name].engine_info()
            engines[name] = f"{info.context or 'default'}, {info.store} store"
        notes.extend(_classic_notes(options, runner, runners))
        for r in used:
            untagged_before[id(r)] = r.dangling_images()

        for name in options.strategies:
            strategy = strategymod.get(name)
            plan = plans[name]
            on = runners[name]
            outcome = StrategyOutcome(strategy, plan.config.image, engine=engines[name])
            try:
                # The builder is --context's engine's: on another engine there is only its own.
                builder = config.builder if on is runner else ""
                if options.allow_prune:
                    on.simulate_fresh_runner([plan.config.image], builder)
                schedule = [(Scenario(POPULATE, False, False), 1)] + [
                    (s, i) for i in range(1, options.repeat + 1) for s in scenarios
                ]
                for scenario, index in schedule:
                    position += 1
                    display.run_started(position, total, name, scenario.name, index, options.repeat)
                    if scenario.edit:
                        edit = config.bench.edit(scenario.name)
                        assert edit is not None
                        _apply_edit(workspace, edit, f"{name}-{scenario.name}-{index}-{uuid.uuid4().hex[:12]}")
                    if scenario.fresh_runner:
                        on.simulate_fresh_runner([plan.config.image], builder)
                    run = _measure(plan, on, display, name, scenario.name, index)
                    runs.append(run)
                    if run.status == "interrupted":
                        raise Interrupted(run.signal or signal.SIGINT)
                    display.run_finished(run)
                    if on_run:
                        on_run(run)
                    if run.status != "success":
                        outcome = replace(outcome, error=f"{scenario.name} run {index}: {run.error}")
                        position += len(schedule) - schedule.index((scenario, index)) - 1
                        break
                outcome = _measure_cache(outcome, plan.config, plan.mode.name)
            finally:
                _restore(workspace)
                outcomes.append(outcome)
                if not options.keep:
                    _clean_strategy(plan.config, on, cleanup)
        if any(o.error for o in outcomes):
            status = "failed"
    except Interrupted as exc:
        status, signum = "interrupted", exc.exit_code - 128
    except KeyboardInterrupt:
        status, signum = "interrupted", signal.SIGINT
    finally:
        display.close()
        if not options.keep:
            shutil.rmtree(tmp, ignore_errors=True)
            for r in used:
                if id(r) in untagged_before:
                    _remove_untagged(r, untagged_before[id(r)], cleanup)
    return BenchResult(
        status=status,
        target=target.label,
        dockerfile=str(config.dockerfile),
        stage_order=order,
        options=replace(
            options,
            notes=(*options.notes, *([f"kept: {tmp}"] if options.keep else []), *dict.fromkeys(cleanup)),
        ),
        outcomes=tuple(outcomes),
        runs=tuple(runs),
        wall_seconds=time.monotonic() - started,
        docker_seconds=sum(r.docker_seconds - before for r, before in zip(used, docker_before, strict=True)),
        own_cpu_seconds=time.process_time() - cpu_before,
        engine=engine,
        signal=int(signum),
        engine_notes=tuple(notes),
    )


def _classic_notes(options: BenchOptions, runner: Runner, runners: dict[str, Runner]) -> list[str]:
    """What the reader of the table must know of the engine the classic strategies ran on."""
    classic = [n for n in options.strategies if strategymod.get(n).mode == "classic"]
    if not classic or options.classic_context:
        return []
    if not runner.engine_info().containerd_store:
        return []
    return [
        f"{', '.join(classic)} ran on an engine with the containerd image store, where the legacy builder's users "
        "do not run it: there it fails to restore a cached step with an empty layer (WORKDIR to a folder that "
        "exists, for instance), which a classic-store engine takes from cache. Give an engine with the classic "
        "store with --classic-context or [bench].classic_context for figures its users would see."
    ]


def _measure(plan, runner: Runner, display: Display, strategy: str, scenario: str, index: int) -> Run:
    """One bake as a Run: "success", "failed" or "interrupted" (with what it did so far)."""
    t0 = time.monotonic()
    try:
        result = run_bake(plan, runner, display, BakeOptions(check_builder=False))
    except StagecacheError as exc:  # refused before anything started
        return Run(strategy, scenario, index, "failed", time.monotonic() - t0, (), exc.message)
    error = result.error
    if error is None:
        return Run(strategy, scenario, index, "success", result.seconds, result.stages)
    signum = error.exit_code - 128 if isinstance(error, Interrupted) else 0
    return Run(strategy, scenario, index, result.status, time.monotonic() - t0, result.stages, error.message, signum)


def _measure_cache(outcome: StrategyOutcome, cfg: Config, mode: str) -> StrategyOutcome:
    """Bytes the strategy's cache occupies where the next runner would find it."""
    if mode == "none":
        return replace(outcome, cache_bytes=0, cache_location="(none)")
    if mode == "local":
        d = cfg.cache.local_dir
        return replace(outcome, cache_bytes=localcache.disk_bytes(d), cache_location=str(d))
    host, _, repo = cfg.image.partition("/")
    try:
        size = RegistryClient(host, credentials=docker_credentials(host)).size(repo)
    except (OSError, StagecacheError):
        size = None
    return replace(outcome, cache_bytes=size, cache_location=cfg.image)


def _clean_strategy(cfg: Config, runner: Runner, cleanup: list[str]) -> None:
    """Delete what the strategy created: its registry tags and local images. A cleanup that
    fails never costs the measurements: it is said in the results (``cleanup``)."""
    if reference.names_registry(cfg.image):
        host, _, repo = cfg.image.partition("/")
        try:
            client = RegistryClient(host, credentials=docker_credentials(host))
            for tag in client.tags(repo):
                client.delete_tag(repo, tag)
        except (StagecacheError, OSError, ValueError) as exc:
            cleanup.append(f"could not delete the tags of {cfg.image}: {_said(exc)}")
    try:
        runner.remove_repositories([cfg.image])
    except StagecacheError as exc:
        cleanup.append(f"could not remove the local images of {cfg.image}: {exc.message}")
    if cfg.cache.local_dir.exists():
        shutil.rmtree(cfg.cache.local_dir, ignore_errors=True)


def _said(exc: Exception) -> str:
    return exc.message if isinstance(exc, StagecacheError) else f"{type(exc).__name__}: {exc}"


def _remove_untagged(runner: Runner, before: set[str], cleanup: list[str]) -> None:
    """Delete the images that lost their tag while the bench ran (a rebuilt stage, or a
    pulled classic stage image rebuilt under the same tag). Left behind, they slow down
    every later image delete on an engine with the containerd image store."""
    try:
        runner.remove_untagged(before)
    except StagecacheError as exc:
        cleanup.append(f"could not remove the images the bench left untagged: {exc.message}")


def engine_versions(result: BenchResult) -> str:
    """One line: docker, buildx, Python."""
    import platform

    e = result.engine
    return (
        f"dockerd {e.get('docker', '?')}, buildx {e.get('buildx', '?')}, "
        f"builder {e.get('builder', '?')} ({e.get('driver', '?')}, containerd store {e.get('containerd_store', '?')}), "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
