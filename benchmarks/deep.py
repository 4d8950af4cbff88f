"""Benchmark: a fully cached bake of a deep Dockerfile on a fresh runner, against one plain
build of its target importing one cache, side by side in one run. Target: within 2x.

The Dockerfile is scale.py's generated chain (N stages of 10 instructions; every fifth stage
starts again FROM the base image and copies the previous one in). Per N, on the engine of the
engine script and its registry:

- stagecache: `bake` with registry caches (`mode=min`, stage images not pushed), once to
  fill the caches; then, per repeat, a fresh runner (BuildKit's cache pruned, the project's
  images removed) and the timed `bake` (the fast path: one build of the target importing
  every stage's cache, and nothing to export);
- plain: `docker buildx build --target sN-1 --load` exporting one `mode=max` registry cache,
  once to fill it; then, per repeat, a fresh runner and the timed build, importing it.

The two alternate (A B, B A, ...). The bake's steps must all hit (`--fail-under 100`); the
steps the plain build missed are recorded per run (`plain_missed`). Stage images are not pushed (the plain build pushes
none either). Each run's Dockerfile carries a token of its own in its first
RUN, so that no earlier run's results on the engine can serve a step (see
tests/engine/conftest.py, _own_cache_keys).

    .venv/bin/python benchmarks/deep.py [--shared] [REPEAT] [N ...]   # default: 3 repeats, N = 10 30 50
                                                             # (other N: results/deep-N1-N2.json)
    .venv/bin/python benchmarks/deep.py --chart              # redraw docs/benchmarks/deep.png from
                                                             # results/deep.json and results/deep-N.json

``--shared`` bakes with ``[cache].first_export = "shared"`` (the first bake exports one
``mode=max`` cache of the target and copies it to every stage's ref) and names its result
and chart ``deep-...-shared``.

It also times, once per N, the first bake (which fills every stage's cache) against the plain
build that fills its one cache (``fill_seconds``).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import ROOT, STAGECACHE, compile_bytecode, run, versions, write_result
from scale import dockerfile

from stagecache.runner import Runner

TARGET = 2.0


def project(stages: int, registry: str, token: str, first_export: str = "per-stage") -> tuple[Path, str]:
    """The project folder and its image repository."""
    root = Path(tempfile.mkdtemp(prefix=f"stagecache-deep-{stages}-"))
    text = dockerfile(stages).replace("RUN echo s0-0 > f0", f"RUN echo s0-0 > f0  # {token}", 1)
    (root / "Dockerfile").write_text(text)
    (root / ".dockerignore").write_text(".stagecache/\nstagecache.toml\n")
    image = f"{registry}/deep-{token}/s{stages}"
    (root / "stagecache.toml").write_text(
        f'[project]\nimage = "{image}"\nnetwork = "none"\npush = false\n'
        f'[cache]\nmode = "registry"\nregistry_mode = "min"\nfirst_export = "{first_export}"\n'
    )
    return root, image


def plain_build(root: Path, target: str, cache: str, fill: bool) -> list[str]:
    """One plain build of ``target``; the steps that missed (from BuildKit's progress)."""
    from stagecache.progress import BuildProgress

    argv = ["docker", "buildx", "build", "--progress=rawjson", "--network", "none", "--target", target]
    argv += ["--tag", f"{cache}-image", "--load"]
    argv += [f"--cache-to=type=registry,ref={cache},mode=max"] if fill else [f"--cache-from=type=registry,ref={cache}"]
    done = subprocess.run([*argv, str(root)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    progress = BuildProgress()
    progress.feed(done.stderr)
    progress.close()
    return sorted(f"[{s.stage} {s.number}] {s.instruction[:40]}" for s in progress.steps.values() if not s.cached)


def main() -> None:
    args = sys.argv[1:]
    shared = "--shared" in args
    args = [a for a in args if a != "--shared"]
    repeat = int(args[0]) if args else 3
    sizes = [int(a) for a in args[1:]] or [10, 30, 50]
    compile_bytecode()
    registry = (ROOT / ".engine" / "registry.addr").read_text().strip()
    runner = Runner()
    rows = []
    for n in sizes:
        token = uuid.uuid4().hex[:8]
        root, image = project(n, registry, token, "shared" if shared else "per-stage")
        target, cache = f"s{n - 1}", f"{registry}/deep-{token}/plain:cache"
        plain_repo = f"{registry}/deep-{token}/plain"
        runner.simulate_fresh_runner([image, plain_repo])
        t0 = time.perf_counter()
        run(STAGECACHE, "bake", "-C", str(root))  # fills every stage's cache
        fill = time.perf_counter() - t0
        runner.simulate_fresh_runner([image, plain_repo])  # plain's cache from a build of its own
        t0 = time.perf_counter()
        plain_build(root, target, cache, fill=True)
        plain_fill = time.perf_counter() - t0
        times: dict[str, list[float]] = {"stagecache": [], "plain": []}
        plain_missed: list[list[str]] = []
        for i in range(repeat):
            order = ["stagecache", "plain"] if i % 2 == 0 else ["plain", "stagecache"]  # A B B A ...
            for name in order:
                runner.simulate_fresh_runner([image, plain_repo])
                t0 = time.perf_counter()
                if name == "stagecache":
                    run(STAGECACHE, "bake", "-C", str(root), "--fail-under", "100")
                else:
                    plain_missed.append(plain_build(root, target, cache, fill=False))
                times[name].append(time.perf_counter() - t0)
        medians = {k: round(statistics.median(v), 3) for k, v in times.items()}
        rows.append(
            {
                "stages": n,
                "seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
                "median": medians,
                "ratio": round(medians["stagecache"] / medians["plain"], 3),
                "fill_seconds": {"stagecache": round(fill, 3), "plain": round(plain_fill, 3)},
                "plain_missed": plain_missed,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        runner.remove_repositories([image, plain_repo])
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "benchmark": "deep",
        "first_export": "shared" if shared else "per-stage",
        "repeat": repeat,
        "target_ratio": TARGET,
        "versions": versions(),
        "rows": rows,
    }
    name = "deep" if not args[1:] else "deep-" + "-".join(str(n) for n in sizes)
    name += "-shared" if shared else ""
    path = write_result(name, result)
    chart(rows, ROOT / "docs" / "benchmarks" / f"{name}.png")
    worst = max(r["ratio"] for r in rows)
    verdict = "OK" if worst <= TARGET else "MISSED"
    print(f"worst stagecache / plain = {worst:.3f} (target <= {TARGET}): {verdict}; {path}")


def chart(rows: list[dict], path: Path) -> None:
    """Seconds against the number of stages: the fully cached bake on a fresh runner and the
    plain build, and the first bakes that filled the caches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["stages"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(xs, [r["median"]["stagecache"] for r in rows], "o-", label="stagecache bake, every stage cached")
    left.plot(xs, [r["median"]["plain"] for r in rows], "s-", label="one plain build of the target, one cache")
    left.set_title("fresh runner, nothing changed (median)")
    filled = [r for r in rows if "fill_seconds" in r]
    right.plot(
        [r["stages"] for r in filled], [r["fill_seconds"]["stagecache"] for r in filled], "o-", label="stagecache bake"
    )
    right.plot([r["stages"] for r in filled], [r["fill_seconds"]["plain"] for r in filled], "s-", label="plain build")
    right.set_title("first run: every cache filled")
    for ax in (left, right):
        ax.set_xlabel("stages (10 instructions each)")
        ax.set_ylabel("seconds")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("A deep Dockerfile: stagecache against one plain build (benchmarks/deep.py)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def committed_rows() -> list[dict]:
    """The rows of results/deep.json, and of the runs of other sizes (results/deep-N.json) for
    the sizes it does not have, by number of stages."""
    results = ROOT / "benchmarks" / "results"
    rows = {r["stages"]: r for r in json.loads((results / "deep.json").read_text())["rows"] if "median" in r}
    for path in sorted(results.glob("deep-[0-9]*.json")):
        if path.stem.endswith("-shared"):
            continue  # [cache].first_export = "shared": its own chart
        for r in json.loads(path.read_text())["rows"]:
            rows.setdefault(r["stages"], r)
    return [rows[n] for n in sorted(rows)]


if __name__ == "__main__":
    if sys.argv[1:] == ["--chart"]:  # redraw from the committed results
        chart(committed_rows(), ROOT / "docs" / "benchmarks" / "deep.png")
    else:
        main()
