"""The command line: parses flags, calls the library, renders output.

Domain errors become one ``Error: ...`` paragraph on stderr and the error's
exit code here, in :func:`_boundary`, and nowhere else.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

import typer

from stagecache import __version__
from stagecache.errors import StagecacheError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="stagecache",
    help="Build, cache and push every stage of a multi-stage Dockerfile, so CI runners start warm.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


INTERNAL_ERROR = 70
"""Exit code of a failure stagecache has no error of its own for: a bug (EX_SOFTWARE)."""


def _boundary(func: F) -> F:
    """Turn StagecacheError into 'Error: ...' + exit code; let typer.Exit through. Anything
    else is a bug: one 'Error: internal error' paragraph and exit 70, never a traceback
    (``STAGECACHE_DEBUG=1`` shows it)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import os

        try:
            return func(*args, **kwargs)
        except StagecacheError as exc:
            typer.echo(f"Error: {exc.message}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("Error: interrupted by SIGINT.", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place a bug becomes a message
            if os.environ.get("STAGECACHE_DEBUG") == "1":
                raise
            # Only the type: an unexpected exception's text may quote a command line, and with
            # it a build arg's value.
            typer.echo(
                f"Error: internal error ({type(exc).__name__}). This is a bug in stagecache: run again with "
                "STAGECACHE_DEBUG=1 for the traceback, and report it.",
                err=True,
            )
            raise typer.Exit(INTERNAL_ERROR) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stagecache {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Build, cache and push every stage of a multi-stage Dockerfile."""


# Options shared by the commands that read a config: name -> (annotation, option).
_SHARED: dict[str, tuple[Any, Any]] = {
    "directory": (
        Optional[Path],
        typer.Option(
            None, "--directory", "-C", help="Project folder (where stagecache.toml is). Default: current directory."
        ),
    ),
    "config": (
        Optional[Path],
        typer.Option(
            None,
            "--config",
            "-c",
            help="Config file. Default: stagecache.toml in the project folder, else the embedded default.",
        ),
    ),
    "cache_mode": (
        Optional[str],
        typer.Option(
            None,
            "--cache-mode",
            "-m",
            help="Override [cache].mode: registry, inline, local, classic or none (registry, inline and classic "
            "need [project].image). Env: STAGECACHE_CACHE_MODE.",
        ),
    ),
    "registry_mode": (
        Optional[str],
        typer.Option(None, "--registry-mode", help="Override [cache].registry_mode: min or max."),
    ),
    "target": (
        Optional[str],
        typer.Option(None, "--target", "-t", help="Override [project].target (the final stage to build)."),
    ),
    "push": (
        Optional[bool],
        typer.Option(
            None, "--push/--no-push", help="Push stage images (default: on for registry, inline and classic modes)."
        ),
    ),
    "branch": (
        Optional[str],
        typer.Option(
            None,
            "--branch",
            help="The branch for {branch} in ref/tag templates (default: from the CI's variables, else git).",
        ),
    ),
    "read_only": (
        Optional[bool],
        typer.Option(
            None,
            "--read-only/--read-write",
            help="Import caches but export none and push nothing (untrusted PR builds).",
        ),
    ),
    "scope": (
        Optional[str],
        typer.Option(
            None,
            "--scope",
            help="stages (build and cache every stage, the default) or final (one build of the target, its own cache).",
        ),
    ),
    "network": (
        Optional[str],
        typer.Option(
            None,
            "--network",
            help='The network of RUN steps: "none" (hermetic), "host", or "" for the engine\'s default. '
            "Overrides [project].network.",
        ),
    ),
    "context": (
        Optional[str],
        typer.Option(
            None,
            "--context",
            help="The docker context (engine) every docker command runs on. Overrides [project].docker_context "
            "and docker's DOCKER_CONTEXT and DOCKER_HOST.",
        ),
    ),
    "execution": (
        Optional[str],
        typer.Option(
            None,
            "--execution",
            help="per-stage (one buildx build per stage) or bake (one buildx bake session). Default [build].execution.",
        ),
    ),
}
PLAN_OPTIONS = tuple(_SHARED)


def _config_options(*names: str) -> Callable[[F], F]:
    """Give a command the shared config options ``names`` (typer has no option groups):
    they are added to its signature after its arguments, and it receives them as one
    ``selection`` dict instead."""

    def decorate(func: F) -> F:
        import inspect
        import typing

        hints = typing.get_type_hints(func)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(func).parameters.values()
            if p.name != "selection"
        ]
        arguments = [p for p in own if isinstance(p.default, typer.models.ArgumentInfo)]
        options = [p for p in own if p not in arguments]
        shared = [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=_SHARED[n][1], annotation=_SHARED[n][0])
            for n in names
        ]
        keyword = inspect.Parameter.KEYWORD_ONLY
        params = [*arguments, *shared, *(p.replace(kind=keyword) for p in options)]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            selection = {n: kwargs.pop(n) for n in names}
            return func(*args, selection=selection, **kwargs)

        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]

    return decorate


def _load(selection: dict[str, Any], **overrides: Any):
    """The config, from the shared options plus a command's own overrides."""
    from stagecache import config as configmod

    directory, config = selection.get("directory"), selection.get("config")
    root = (directory or Path.cwd()).resolve()
    if directory is not None and not root.is_dir():
        from stagecache.errors import UsageError

        raise UsageError(f"{directory}: no such directory (given to --directory).")
    path = configmod.find_config(root, config)
    given = {k: v for k, v in selection.items() if k not in ("directory", "config")}
    return configmod.load(path, root=root, overrides=configmod.Overrides(**given, **overrides))


@app.command(short_help="Show the stage graph and the docker commands.")
@_boundary
@_config_options(*PLAN_OPTIONS)
def plan(
    selection: dict[str, Any],
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON (schema stagecache.plan/v1)."),
) -> None:
    """Show the stage graph and the exact docker commands bake would run. Runs nothing."""
    from stagecache import planview
    from stagecache.plan import make_plan
    from stagecache.preflight import check_local_dir

    p = make_plan(_load(selection))
    check_local_dir(p)  # a folder bake would refuse is refused here too (it only reads)
    if as_json:
        typer.echo(json.dumps(planview.to_json(p), indent=2))
    else:
        typer.echo(planview.render(p))


@app.command(short_help="Say which stages the next bake will rebuild, and why.")
@_boundary
@_config_options(*PLAN_OPTIONS)
def explain(selection: dict[str, Any]) -> None:
    """Compare each stage's current inputs with the record stored beside its cache (local or
    registry mode), and name the first step that will miss and why. Builds nothing; reads the
    records (a registry request per stage). The base images' digests are not checked."""
    from stagecache import why
    from stagecache.plan import make_plan

    typer.echo(why.render_forecast(why.forecast(make_plan(_load(selection)))))


def _live_progress(progress: str) -> bool:
    """Whether --progress asks for the live status line (``auto``: when stderr is a terminal)."""
    from stagecache.errors import UsageError

    if progress not in ("auto", "tty", "plain"):
        raise UsageError(f"--progress must be auto, tty or plain, not '{progress}'.")
    return progress == "tty" or (progress == "auto" and sys.stderr.isatty())


_BAKE_EPILOG = """\b
Examples:
  stagecache bake                     # this folder and its stagecache.toml
  stagecache bake -C app -m registry  # needs [project].image
  stagecache bake --fail-under 80 --report report.json

\b
Exit codes:
  0      success
  1      a build failed (the stage, step and BuildKit's error are printed)
  2      usage, config or Dockerfile error (nothing was run)
  3      docker, the daemon or the builder cannot do what was asked
  4      the cache-hit gate (--fail-under) failed
  5      a push, cache export or registry login failed
  70     internal error (STAGECACHE_DEBUG=1 shows the traceback)
  128+N  interrupted by signal N (130: Ctrl-C, 143: SIGTERM)
"""


@app.command(short_help="Build, cache and push every stage, in order.", epilog=_BAKE_EPILOG)
@_boundary
@_config_options(*PLAN_OPTIONS)
def bake(
    selection: dict[str, Any],
    fail_under: Optional[float] = typer.Option(
        None,
        "--fail-under",
        help="Exit 4 if under this percentage of steps were cache hits (also [cache].fail_under, per stage).",
    ),
    jobs: Optional[int] = typer.Option(
        None,
        "--jobs",
        "-j",
        help="Stages built at the same time when the graph allows ([build].jobs; default: CPUs, at most 4).",
    ),
    report: Optional[Path] = typer.Option(
        None, "--report", help="Write the result as JSON (schema stagecache.report/v1) to this file."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Stream BuildKit's own log."),
    progress: str = typer.Option(
        "auto", "--progress", help="auto, tty (live status line) or plain (one line per event)."
    ),
) -> None:
    """Build every stage the target needs, importing each stage's cache, and export each stage's
    cache that changed (on a new runner the target is built once first: see docs/commands.md,
    "The fast path")."""
    from stagecache.bake import BakeOptions, check_gate, run_bake, with_gate
    from stagecache.display import LiveDisplay, PlainDisplay
    from stagecache.errors import EnvironmentProblem
    from stagecache.plan import make_plan
    from stagecache.runner import Runner

    live = _live_progress(progress)
    cfg = _load(selection, fail_under=fail_under, jobs=jobs)
    runner = Runner(context=cfg.docker_context)
    # Planned by the rules of the frontend the engine will use (exit 2 here if they make it fail).
    p = make_plan(cfg, probe=lambda: runner.builtin_frontend_is_current(cfg.builder))
    display = (LiveDisplay if live else PlainDisplay)(sys.stderr, verbose=verbose)
    # Engine versions are asked for (alongside the builds) only when a report records them.
    result = run_bake(p, runner, display, BakeOptions(engine_facts=report is not None))
    if result.error is None:
        result = with_gate(result, p)  # recorded in the report before the gate decides the exit code
    # An engine that could not start a build (daemon down, no buildx) built nothing: no summary.
    # One that failed a stage later (no bridge network, the legacy builder's empty layer) did.
    if not isinstance(result.error, EnvironmentProblem) or any(s.steps for s in result.stages):
        _outputs(result, report)
    if result.error is not None:
        raise result.error
    check_gate(result, p)


def _outputs(result, report: Optional[Path]) -> None:
    """The summary on stdout, the JSON report, and the CI job summary when there is one."""
    from stagecache import report as reportmod

    typer.echo(reportmod.summary(result))
    if report:
        reportmod.write_json(report, reportmod.to_json(result))
    _append_step_summary(reportmod.to_markdown(result))


def _append_step_summary(markdown: str) -> None:
    """Append to GitHub Actions' job summary when running there."""
    import os

    from stagecache import ci

    summary_file = ci.step_summary_path(os.environ)
    if summary_file is None:
        return
    try:
        with open(summary_file, "a", encoding="utf-8") as fh:
            fh.write(markdown)
    except OSError as exc:
        typer.echo(f"warning: cannot append to GITHUB_STEP_SUMMARY ({summary_file}): {exc.strerror}", err=True)


@app.command(name="export-bake", short_help="Write the plan as a docker buildx bake file.")
@_boundary
@_config_options(*(n for n in PLAN_OPTIONS if n not in ("scope", "execution")))
def export_bake(
    selection: dict[str, Any],
    path: Path = typer.Argument(..., help="Where to write the bake definition (JSON), e.g. docker-bake.json."),
) -> None:
    """Write the plan as a docker buildx bake file: one target per stage, with its tags and caches."""
    from stagecache import bakefile
    from stagecache.errors import StagecacheError
    from stagecache.plan import make_plan
    from stagecache.report import write_json
    from stagecache.runner import Runner

    # Planned as a bake session: every target imports every upstream cache (see plan.py).
    cfg = _load(selection, execution="bake")
    p = make_plan(cfg)
    if p.mode.name == "local" and cfg.cache.local_dir_origin == "user":
        typer.echo(
            f"warning: the local cache folder is {cfg.cache.local_dir}, the default for this machine and "
            "checkout: set [cache].local_dir (e.g. to .stagecache/cache, excluded by the .dockerignore) to "
            "share the file.",
            err=True,
        )
    base = path.absolute().parent
    write_json(path, bakefile.definition(p, standalone=True, base=base))
    secret = [n for n, _ in cfg.build_args if n in p.secret_args]
    if base == Path.cwd():
        typer.echo(f"wrote {path}: run it with `docker buildx bake --file {path.name}` in this folder.")
    else:
        typer.echo(
            f"wrote {path}: its paths are relative to {base}; run it there with "
            f"`docker buildx bake --file {path.name}`."
        )
    if cfg.network:
        try:
            printed = Runner(context=cfg.docker_context).bake_print(str(path))
            kept = all("network" in t for t in printed.get("target", {}).values())
        except StagecacheError as exc:
            typer.echo(f"note: could not ask buildx whether it keeps a target's network ({exc.message})", err=True)
        else:
            if not kept:
                typer.echo(
                    f'warning: [project].network = "{cfg.network}" is in the file, but this buildx ignores a bake '
                    "target's network: its RUN steps would use the default network. Use `stagecache bake` "
                    "(one build per stage), or a buildx that supports the bake network attribute.",
                    err=True,
                )
    if p.graph.sensitive:
        typer.echo(
            f"warning: the file's targets follow the rules of Dockerfile frontend 1.11 and later; an engine with an "
            f"older built-in frontend reads {p.graph.sensitive[0]} differently. Add '# syntax=docker/dockerfile:1' "
            "as the first line of the Dockerfile so that every engine builds the same.",
            err=True,
        )
    if secret:
        typer.echo(
            f"build args {', '.join(secret)} look secret, so the file reads them from the environment "
            "(bake variables): export them before running bake.",
            err=True,
        )


@app.command(name="fresh-runner", short_help="Make this engine look like a new CI runner.")
@_boundary
@_config_options("directory", "config", "target", "branch", "context")
def fresh_runner(
    selection: dict[str, Any],
    allow_prune: bool = typer.Option(
        False, "--allow-prune", help="Allow pruning the builder's whole build cache (every project's)."
    ),
) -> None:
    """Make this engine look like a new CI runner for the project, as bench's cold scenarios
    do: prune the builder's whole BuildKit cache and remove the project's stage images. Base
    images, the local cache folder and registry caches stay (a CI restores its caches), so the
    next bake shows what a fresh runner gets from them. Needs --allow-prune."""
    from stagecache.errors import UsageError
    from stagecache.plan import make_plan
    from stagecache.runner import Runner

    cfg = _load(selection)
    p = make_plan(cfg)
    if not (allow_prune or cfg.bench.allow_prune):
        raise UsageError(
            "fresh-runner prunes the builder's whole build cache (`docker buildx prune --all`), every project's, "
            "not only this one's. Run it where that is fine and pass --allow-prune (or set "
            "[bench].allow_prune = true for a dedicated builder)."
        )
    runner = Runner(context=cfg.docker_context)
    runner.prune_build_cache(cfg.builder)
    tags = [t for b in p.builds for t in b.tags]
    runner.remove_repositories([cfg.image])
    runner.remove_images(t for t in tags if not t.startswith(cfg.image + ":"))
    where = f"builder '{cfg.builder}'" if cfg.builder else "the current builder"
    typer.echo(
        f"pruned the build cache of {where} and removed the local images of {cfg.image}; "
        "the next bake starts as on a new CI runner."
    )


@app.command(short_help="Check that bake would work here.")
@_boundary
@_config_options("directory", "config", "cache_mode", "target", "network", "context")
def doctor(
    selection: dict[str, Any],
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON (schema stagecache.doctor/v1)."),
) -> None:
    """Check that bake would work here (docker, daemon, buildx, builder, registry access, cache dir, Dockerfile)."""
    from stagecache import doctor as doctormod
    from stagecache.config import checked_docker_context
    from stagecache.runner import Runner

    # The engine of --context even when the config cannot be read (the config may name another).
    context = checked_docker_context(selection["context"], "--context") if selection.get("context") else ""
    checks = doctormod.run_checks(lambda: _load(selection), Runner(context=context))
    typer.echo(json.dumps(doctormod.to_json(checks), indent=2) if as_json else doctormod.render(checks))
    raise typer.Exit(doctormod.exit_code(checks))


def _split(values: Optional[list[str]]) -> tuple[str, ...]:
    return tuple(v.strip() for item in values or () for v in item.split(",") if v.strip())


@app.command(short_help="Compare caching strategies on a simulated fresh runner.")
@_boundary
@_config_options("directory", "config", "target", "context")
def bench(
    selection: dict[str, Any],
    image: Optional[str] = typer.Option(
        None,
        "--image",
        help="Repository to bench in (overrides [project].image); each strategy uses IMAGE/bench-STRATEGY.",
    ),
    strategy: Optional[list[str]] = typer.Option(
        None,
        "--strategy",
        "-s",
        help="Strategy to run (repeat, or comma-separated): none, classic-final, classic-stages, inline-final, "
        "inline-stages, registry-min, registry-max, registry-min-single, registry-max-single, local. "
        "Default: [bench].strategies, else all.",
    ),
    scenario: Optional[list[str]] = typer.Option(
        None,
        "--scenario",
        help="Scenario to run (repeat, or comma-separated): warm, cold, or an edit scenario from [bench.edits]. "
        "Default: [bench].scenarios, else warm, cold and every declared edit.",
    ),
    repeat: Optional[int] = typer.Option(None, "--repeat", "-n", help="Measured runs per cell (default 1)."),
    allow_prune: bool = typer.Option(
        False, "--allow-prune", help="Allow pruning the builder's whole cache to simulate a fresh CI runner."
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the images, cache refs and cache directories afterwards."),
    json_path: Optional[Path] = typer.Option(
        None, "--json", help="Write the results as JSON (schema stagecache.bench/v1)."
    ),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Write the results as Markdown."),
    chart: Optional[Path] = typer.Option(
        None, "--chart", help="Write a bar chart (.png or .svg; needs the 'chart' extra: matplotlib)."
    ),
    execution: Optional[list[str]] = typer.Option(
        None,
        "--execution",
        help="per-stage, bake, or both (repeat or comma-separated): 'bake' adds STRATEGY+bake variants.",
    ),
    classic_context: Optional[str] = typer.Option(
        None,
        "--classic-context",
        help="The docker context of an engine with the classic image store, for the classic-* strategies "
        "(overrides [bench].classic_context).",
    ),
    layers: bool = typer.Option(False, "--layers", help="Also print the layer-by-layer comparison."),
    layers_scenario: Optional[str] = typer.Option(
        None, "--layers-scenario", help="Scenario of the layer comparison (default cold-edit-source, else cold)."
    ),
    progress: str = typer.Option("auto", "--progress", help="auto, tty (live status line) or plain."),
) -> None:
    """Measure caching strategies side by side (warm, fresh runner, edits) on a copy of the project."""
    from stagecache import bench as benchmod
    from stagecache import benchreport
    from stagecache.display import LiveBenchDisplay, PlainBenchDisplay
    from stagecache.errors import BuildFailed, Interrupted
    from stagecache.report import write_json, write_text
    from stagecache.runner import Runner

    live = _live_progress(progress)
    if chart is not None:
        benchreport.check_chart_path(chart)
    cfg = _load(selection, image=image)
    options = benchmod.resolve_options(
        cfg,
        strategies=_split(strategy),
        scenarios=_split(scenario),
        repeat=repeat,
        allow_prune=allow_prune,
        keep=keep,
        layers_scenario=layers_scenario,
        executions=_split(execution),
        classic_context=classic_context,
    )
    for note in options.notes:
        typer.echo(f"note: {note}", err=True)
    display = (LiveBenchDisplay if live else PlainBenchDisplay)(sys.stderr)
    result = benchmod.run_bench(cfg, options, Runner(context=cfg.docker_context), display)
    typer.echo(benchreport.render(result, layers=layers))
    if json_path:
        write_json(json_path, benchreport.to_json(result))
    if markdown:
        write_text(markdown, benchreport.to_markdown(result))
    if chart and result.runs:
        benchreport.write_chart(result, chart)
    _append_step_summary(benchreport.to_markdown(result))
    if result.status == "interrupted":
        raise Interrupted(result.signal or 2)
    if result.status == "failed":
        failed = "; ".join(f"{o.strategy.name}: {o.error.splitlines()[0]}" for o in result.outcomes if o.error)
        raise BuildFailed(f"some strategies failed, so their columns are incomplete: {failed}")


@app.command(short_help="Remove the caches and images no branch needs any more.")
@_boundary
@_config_options("directory", "config", "cache_mode", "branch")
def gc(
    selection: dict[str, Any],
    keep_branch: Optional[list[str]] = typer.Option(
        None, "--keep-branch", help="A branch that is alive (repeat, or comma-separated); the fallback branch is."
    ),
    remote: Optional[str] = typer.Option(
        None, "--remote", help="Keep the branches this git remote has (git ls-remote --heads REMOTE), e.g. origin."
    ),
    max_age: Optional[float] = typer.Option(
        None, "--max-age", min=0, help="Keep the branches that wrote a cache within this many days."
    ),
    yes: bool = typer.Option(False, "--yes", help="Delete. Without it, gc only lists what it would delete."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (schema stagecache.gc/v1)."),
) -> None:
    """Remove what stagecache made and no branch needs: the cache refs, input records and stage
    images of branches that are not alive and of stages the Dockerfile no longer has (registry),
    and stale stage folders (local cache). Deletes only manifests proven stagecache's, never one
    a kept tag points to. A dry run unless --yes."""
    from stagecache import gc as gcmod
    from stagecache import gcview
    from stagecache.plan import make_plan

    p = make_plan(_load(selection))
    liveness = gcmod.Liveness(_split(keep_branch), remote or "", max_age)
    clients = gcmod.Clients()
    try:
        report = gcmod.collect(p, liveness, clients)
        if yes:
            try:
                gcmod.apply(report, clients)
            except BaseException:  # a failure part-way, Ctrl-C: what was deleted before is said first
                typer.echo(json.dumps(report.to_json(), indent=2) if as_json else gcview.render(report))
                raise
    finally:
        clients.close()
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else gcview.render(report))


def main() -> None:
    """Console entry point."""
    app(prog_name="stagecache")


if __name__ == "__main__":  # pragma: no cover
    main()
