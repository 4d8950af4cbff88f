"""Shared helpers for the benchmark scripts: measure A and B alternately, summarise
with median and spread, and record the versions of everything involved."""

from __future__ import annotations

import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from stagecache.config import default_image
from stagecache.runner import Runner

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
STAGECACHE = str(Path(sys.executable).parent / "stagecache")


def versions() -> dict[str, str]:
    """docker, buildx and Python versions, for every result."""

    def out(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "?"

    import typer

    return {
        "dockerd": out("docker", "version", "--format", "{{.Server.Version}}"),
        "typer": typer.__version__,
        "buildx": out("docker", "buildx", "version"),
        "python": platform.python_version(),
        "cpus": str(len(__import__("os").sched_getaffinity(0))),
    }


def compile_bytecode() -> None:
    """Compile stagecache's modules to bytecode, as pip does when it installs a wheel. An
    editable install compiles them on first import, unless PYTHONDONTWRITEBYTECODE is set
    (as on the machines these numbers come from): every run would then recompile them."""
    import compileall

    import stagecache

    compileall.compile_dir(Path(stagecache.__file__).parent, quiet=1)


def alternate(variants: dict[str, Callable[[], None]], repeat: int, before: Callable[[], None] | None = None):
    """Run each variant ``repeat`` times, interleaved (A B C A B C ...), returning name -> seconds."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, fn in variants.items():
            if before:
                before()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def summary(times: dict[str, list[float]], baseline: str) -> dict:
    """Median, min, max per variant and each variant's median ratio to ``baseline``."""
    base = statistics.median(times[baseline])
    return {
        name: {
            "median": round(statistics.median(v), 3),
            "min": round(min(v), 3),
            "max": round(max(v), 3),
            "ratio_to_" + baseline: round(statistics.median(v) / base, 3),
        }
        for name, v in times.items()
    }


@contextmanager
def example_copy(name: str) -> Iterator[Path]:
    """A throwaway copy of an example (benchmarks never touch the user's files). Its folder,
    and so its default image repository, is ``bench-NAME``: the example's own images are
    left alone. On the way out the copy is deleted, with its images and any image its
    builds untagged (those slow down every later delete on a containerd image store)."""
    dest = Path(tempfile.mkdtemp(prefix=f"stagecache-bench-{name}-")) / f"bench-{name}"
    shutil.copytree(EXAMPLES / name, dest, ignore=shutil.ignore_patterns(".stagecache"))
    runner = Runner()
    untagged = runner.dangling_images()
    try:
        yield dest
    finally:
        runner.remove_repositories([default_image(dest)])
        runner.remove_untagged(untagged)
        shutil.rmtree(dest.parent, ignore_errors=True)


def run(*argv: str, cwd: Path | None = None) -> None:
    """Run a command; raise with its output if it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def hand_script(project: Path, path: Path, extra: tuple[str, ...] = (), cached: bool = False) -> Path:
    """The shell script a team writes by hand: the very docker commands of `stagecache plan --json`,
    one after another (plus the rename of each stage's new local cache into place). ``cached``:
    the commands stagecache runs when every step hits, i.e. the fast path's first build alone
    (plan's ``probe``), so that both sides do the same work."""
    plan = json.loads(
        subprocess.run(
            [STAGECACHE, "plan", "-C", str(project), "--json", *extra], capture_output=True, text=True, check=True
        ).stdout
    )
    import shlex

    lines = ["#!/bin/sh", "set -e"]
    if cached and plan.get("probe"):
        lines.append(shlex.join(plan["probe"]) + " 2>/dev/null")
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o755)
        return path
    for build in plan["builds"]:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in build["env"].items())
        for spec in build["cache_to"]:
            if spec.startswith("type=local"):
                dest = dict(kv.split("=", 1) for kv in spec.split(","))["dest"]
                lines.append(f"rm -rf {shlex.quote(dest)}")
        lines.append((env + " " if env else "") + shlex.join(build["argv"]) + " 2>/dev/null")
        for spec in build["cache_to"]:
            if spec.startswith("type=local"):
                dest = dict(kv.split("=", 1) for kv in spec.split(","))["dest"]
                final = str(Path(dest).parent / Path(dest).name.strip(".").removesuffix(".incoming"))
                lines.append(f"rm -rf {shlex.quote(final)} && mv {shlex.quote(dest)} {shlex.quote(final)}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


def write_result(name: str, data: dict) -> Path:
    """benchmarks/results/NAME.json"""
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    return out


def finish(
    name: str,
    repeat: int,
    times: dict[str, list[float]],
    baseline: str,
    variant: str,
    target: float,
    extra: dict | None = None,
) -> None:
    """Write benchmarks/results/NAME.json (with ``extra`` results) and print the summary and
    the target's verdict."""
    result = {"benchmark": name, "repeat": repeat, "versions": versions(), "seconds": summary(times, baseline)}
    result.update(extra or {})
    path = write_result(name, result)
    print(json.dumps(result, indent=2))
    ratio = result["seconds"][variant][f"ratio_to_{baseline}"]
    verdict = "OK" if ratio <= target else "MISSED"
    print(f"{variant} / {baseline} = {ratio:.3f} (target <= {target}): {verdict}; {path}")
