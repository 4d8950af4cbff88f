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


def _boundary(func: F) -> F:
    """Turn StagecacheError into 'Error: ...' + exit code; let typer.Exit through."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StagecacheError as exc:
            typer.echo(f"Error: {exc.message}", err=True)
            raise typer.Exit(exc.exit_code) from None

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


# Options shared by the commands that read a config.
DirectoryOpt = typer.Option(
    None, "--directory", "-C", help="Project folder (where stagecache.toml is). Default: current directory."
)
ConfigOpt = typer.Option(
    None,
    "--config",
    "-c",
    help="Config file. Default: stagecache.toml in the project folder, else the embedded default.",
)
CacheModeOpt = typer.Option(
    None,
    "--cache-mode",
    "-m",
    help="Override [cache].mode: registry, inline, local, classic or none. Env: STAGECACHE_CACHE_MODE.",
)
RegistryModeOpt = typer.Option(None, "--registry-mode", help="Override [cache].registry_mode: min or max.")
TargetOpt = typer.Option(None, "--target", "-t", help="Override [project].target (the final stage to build).")
PushOpt = typer.Option(
    None, "--push/--no-push", help="Push stage images (default: on for registry, inline and classic modes)."
)


def _load(directory: Optional[Path], config: Optional[Path], cache_mode, registry_mode, target, push):
    from stagecache import config as configmod

    root = (directory or Path.cwd()).resolve()
    if directory is not None and not root.is_dir():
        from stagecache.errors import UsageError

        raise UsageError(f"{directory}: no such directory (given to --directory).")
    path = configmod.find_config(root, config)
    overrides = configmod.Overrides(cache_mode=cache_mode, registry_mode=registry_mode, push=push, target=target)
    return configmod.load(path, root=root, overrides=overrides)


@app.command()
@_boundary
def plan(
    directory: Optional[Path] = DirectoryOpt,
    config: Optional[Path] = ConfigOpt,
    cache_mode: Optional[str] = CacheModeOpt,
    registry_mode: Optional[str] = RegistryModeOpt,
    target: Optional[str] = TargetOpt,
    push: Optional[bool] = PushOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON (schema stagecache.plan/v1)."),
) -> None:
    """Show the stage graph and the exact docker commands bake would run. Runs nothing."""
    from stagecache import planview
    from stagecache.plan import make_plan

    cfg = _load(directory, config, cache_mode, registry_mode, target, push)
    p = make_plan(cfg)
    if as_json:
        typer.echo(json.dumps(planview.to_json(p), indent=2))
    else:
        typer.echo(planview.render(p))


@app.command()
@_boundary
def bake(
    directory: Optional[Path] = DirectoryOpt,
    config: Optional[Path] = ConfigOpt,
    cache_mode: Optional[str] = CacheModeOpt,
    registry_mode: Optional[str] = RegistryModeOpt,
    target: Optional[str] = TargetOpt,
    push: Optional[bool] = PushOpt,
    report: Optional[Path] = typer.Option(
        None, "--report", help="Write the result as JSON (schema stagecache.report/v1) to this file."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Stream BuildKit's own log."),
    progress: str = typer.Option(
        "auto", "--progress", help="auto, tty (live status line) or plain (one line per event)."
    ),
) -> None:
    """Build every stage the target needs, in order, importing and exporting each stage's cache."""
    from stagecache import report as reportmod
    from stagecache.bake import bake as run_bake
    from stagecache.display import LiveDisplay, PlainDisplay
    from stagecache.errors import UsageError
    from stagecache.plan import make_plan
    from stagecache.runner import Runner

    if progress not in ("auto", "tty", "plain"):
        raise UsageError(f"--progress must be auto, tty or plain, not '{progress}'.")
    cfg = _load(directory, config, cache_mode, registry_mode, target, push)
    p = make_plan(cfg)
    live = progress == "tty" or (progress == "auto" and sys.stderr.isatty())
    display = (LiveDisplay if live else PlainDisplay)(sys.stderr, verbose=verbose)
    try:
        result = run_bake(p, Runner(), display)
    except StagecacheError as exc:
        if exc.result is not None:
            typer.echo(reportmod.summary(exc.result))
            if report:
                reportmod.write_json(report, reportmod.to_json(exc.result))
        raise
    typer.echo(reportmod.summary(result))
    if report:
        reportmod.write_json(report, reportmod.to_json(result))


def main() -> None:
    """Console entry point."""
    app(prog_name="stagecache")


if __name__ == "__main__":  # pragma: no cover
    main()
