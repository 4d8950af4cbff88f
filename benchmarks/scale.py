"""Benchmark 4: scale. Generated Dockerfiles with N stages of 10 instructions each
(N = 10..50; 50 stages = 500 instructions).

- `stagecache plan` wall time per N (target: under 1 s at 50 stages);
- the CPU time stagecache itself spends in a fully cached bake (its own process,
  excluding the buildx processes), per N: it should grow linearly. Written as a chart.

    .venv/bin/python benchmarks/scale.py [REGISTRY]
    .venv/bin/python benchmarks/scale.py --rechart   # redraw from benchmarks/results/scale.json

REGISTRY defaults to the engine script's registry (.engine/registry.addr).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, STAGECACHE, compile_bytecode, versions, write_result

SIZES = (10, 20, 30, 40, 50)


def dockerfile(stages: int) -> str:
    lines = ["ARG BASE_IMAGE=stagecache/busybox:latest", "FROM ${BASE_IMAGE} AS s0", "WORKDIR /w"]
    lines += [f"RUN echo s0-{i} > f{i}" for i in range(8)]
    for n in range(1, stages):
        lines.append(f"FROM s{n - 1} AS s{n}" if n % 5 else f"FROM ${{BASE_IMAGE}} AS s{n}")
        lines.append("WORKDIR /w")
        if n % 5 == 0:
            lines.append(f"COPY --from=s{n - 1} /w /prev")
        else:
            lines.append(f"ENV STAGE=s{n}")
        lines += [f"RUN echo s{n}-{i} > f{i}" for i in range(8)]
    return "\n".join(lines) + "\n"


def project(stages: int, registry: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"stagecache-scale-{stages}-"))
    (root / "Dockerfile").write_text(dockerfile(stages))
    (root / ".dockerignore").write_text(".stagecache/\nstagecache.toml\n")
    # registry + min: with mode=max, BuildKit's cache export of a fully cached deep chain
    # reloads every imported record's whole ref chain (quadratic in the depth: moby/buildkit
    # PR 7122), which is BuildKit's time, not stagecache's, and would dominate the run.
    (root / "stagecache.toml").write_text(
        f'[project]\nimage = "{registry}/scale/s{stages}"\nnetwork = "none"\n'
        '[cache]\nmode = "registry"\nregistry_mode = "min"\n[build]\njobs = 1\n'
    )
    return root


def instructions_listed(root: Path) -> int:
    """How many instructions the per-stage builds' graphs hold in all (about one progress
    vertex each): the build of a stage also lists every step of the stages upstream of it,
    as cached, so in a chain this grows with the square of the depth, and stagecache
    reads every one of them."""
    from stagecache import config as cfg
    from stagecache.plan import make_plan

    plan = make_plan(cfg.load(root / "stagecache.toml"))
    return sum(len(plan.graph.find(label).instructions) for b in plan.builds for label in (b.stage, *b.upstream))


def cpu_of_bake(root: Path) -> tuple[float, float]:
    """(stagecache's own CPU seconds, wall seconds) of one bake, measured in-process."""
    from stagecache import config as cfg
    from stagecache.bake import bake
    from stagecache.plan import make_plan
    from stagecache.runner import Runner

    plan = make_plan(cfg.load(root / "stagecache.toml"))
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    bake(plan, Runner())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> None:
    if sys.argv[1:] == ["--rechart"]:
        rechart()
        return
    compile_bytecode()
    registry = sys.argv[1] if len(sys.argv) > 1 else (ROOT / ".engine" / "registry.addr").read_text().strip()
    rows = []
    for n in SIZES:
        root = project(n, registry)
        plan_times = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([STAGECACHE, "plan", "-C", str(root)], check=True, capture_output=True)
            plan_times.append(time.perf_counter() - t0)
        cpu_of_bake(root)  # fill the cache
        cpu, wall = cpu_of_bake(root)  # fully cached
        instructions = sum(1 for line in dockerfile(n).splitlines() if line and not line.startswith("ARG"))
        rows.append(
            {
                "stages": n,
                "instructions": instructions,
                "plan_seconds": round(statistics.median(plan_times), 3),
                "bake_cpu_seconds": round(cpu, 3),
                "bake_wall_seconds": round(wall, 3),
                "cpu_per_stage_ms": round(1000 * cpu / n, 2),
                "instructions_listed": instructions_listed(root),
            }
        )
        print(rows[-1], flush=True)
    result = {"benchmark": "scale", "versions": versions(), "rows": rows}
    path = write_result("scale", result)
    _chart(rows, ROOT / "docs" / "benchmarks" / "scale.png")
    print(json.dumps(result, indent=2))
    print(f"plan at 50 stages: {rows[-1]['plan_seconds']} s (target < 1 s); {path}")


def _chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["stages"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(xs, [r["bake_cpu_seconds"] for r in rows], "o-", label="stagecache CPU s, fully cached bake")
    left.plot(xs, [r["plan_seconds"] for r in rows], "s-", label="`stagecache plan` wall s")
    left.set_xlabel("stages (10 instructions each, one chain)")
    left.set_ylabel("seconds")
    left.set_title("per stage count")
    left.legend()
    left.grid(alpha=0.3)
    listed = [r["instructions_listed"] / 1000 for r in rows]
    right.plot(listed, [r["bake_cpu_seconds"] for r in rows], "o-", label="stagecache CPU s")
    for r, x in zip(rows, listed, strict=True):
        right.annotate(f"{r['stages']} stages", (x, r["bake_cpu_seconds"]), textcoords="offset points", xytext=(4, -10))
    right.set_xlabel("thousand instructions in the builds' graphs (upstream stages included)")
    right.set_ylabel("seconds")
    right.set_title("per instruction the builds list")
    right.grid(alpha=0.3)
    fig.suptitle("stagecache's own cost in a fully cached bake")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def rechart() -> None:
    """Redraw the chart from benchmarks/results/scale.json."""
    result = json.loads((ROOT / "benchmarks" / "results" / "scale.json").read_text())
    _chart(result["rows"], ROOT / "docs" / "benchmarks" / "scale.png")


if __name__ == "__main__":
    main()
