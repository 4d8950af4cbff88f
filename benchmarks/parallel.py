"""Benchmark 2: parallel stages on the diamond example, cold.

The copy's deps-a and deps-b each burn a few seconds (CPU_SECONDS, default 3) of real
single-threaded CPU: busybox sh arithmetic, calibrated on this machine before the run.
Every run starts cold (BuildKit cache pruned, local cache removed).
Variants, alternated: `bake --jobs 2`, `bake --jobs 1`, and the sequential script
a team writes by hand (the same docker commands). Target: jobs 2 at most 0.7x of
the sequential wall time on a 2-core machine.

    .venv/bin/python benchmarks/parallel.py [REPEAT] [CPU_SECONDS]

The scheduler is what is measured: the copy turns the fast path off ([build].fast_path =
false), whose first build would solve both sides in one BuildKit session whatever --jobs is.

Prunes the engine's whole build cache: run it on a dedicated engine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

from _common import STAGECACHE, alternate, example_copy, finish, hand_script, run

LOOP = "i=0; while [ $i -lt {n} ]; do i=$((i+1)); done"


def calibrate(seconds: float) -> int:
    """Loop iterations that take ``seconds`` of one CPU in busybox sh (the image's shell)."""
    busybox = shutil.which("busybox")
    if busybox is None:
        return int(1_000_000 * seconds)
    n = 300_000
    t0 = time.perf_counter()
    subprocess.run([busybox, "sh", "-c", LOOP.format(n=n)], check=True)
    return int(n * seconds / (time.perf_counter() - t0))


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    cpu = LOOP.format(n=calibrate(float(sys.argv[2]) if len(sys.argv) > 2 else 3.0))
    with example_copy("diamond") as project:
        dockerfile = project / "Dockerfile"
        text = dockerfile.read_text()
        text = text.replace('RUN sleep 1 && echo "library a', f'RUN {cpu} && echo "library a')
        text = text.replace('RUN sleep 1 && echo "library b', f'RUN {cpu} && echo "library b')
        dockerfile.write_text(text)
        config = project / "stagecache.toml"
        config.write_text(config.read_text() + "\n[build]\nfast_path = false\n")
        script = hand_script(project, project.parent / "by-hand.sh")

        def cold() -> None:
            run("docker", "buildx", "prune", "--all", "--force")
            shutil.rmtree(project / ".stagecache", ignore_errors=True)

        def bake(jobs: int):
            return lambda: run(STAGECACHE, "bake", "-C", str(project), "--progress", "plain", "--jobs", str(jobs))

        times = alternate(
            {"by-hand": lambda: run("sh", str(script)), "jobs-1": bake(1), "jobs-2": bake(2)}, repeat, before=cold
        )
        finish("parallel", repeat, times, baseline="by-hand", variant="jobs-2", target=0.7)


if __name__ == "__main__":
    main()
