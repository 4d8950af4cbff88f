"""Benchmark: what explaining misses costs (stagecache.why: input manifests read, worked out,
compared and written at every bake).

1. Hashing a large build context: ``COPY . /app`` of a generated context of FILES files
   (1 KiB each, in 100 folders): the time to work out the step's inputs (list the context
   after .dockerignore, hash every file), the first time and again in a new process-like
   state (a new Context each time; the page cache is warm, as on a CI runner that just
   checked the files out).
2. A fully cached bake of examples/gcc (local cache, warm engine): the same bake with and
   without the input manifests, alternated A B B A, REPEAT times each. Target: at most 1.05x.

    .venv/bin/python benchmarks/explain_cost.py [REPEAT] [FILES]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import alternate, compile_bytecode, example_copy, finish, run

from stagecache import config as cfg
from stagecache import graph, why
from stagecache.bake import bake
from stagecache.inputs import Context, collect
from stagecache.plan import make_plan
from stagecache.runner import Runner


def context_cost(files: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="stagecache-explain-") as tmp:
        root = Path(tmp)
        (root / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")
        payload = b"x" * 1023 + b"\n"
        for i in range(files):
            folder = root / f"d{i % 100:02d}"
            folder.mkdir(exist_ok=True)
            (folder / f"f{i}.txt").write_bytes(payload)
        g = graph.parse(root / "Dockerfile")
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            inputs = collect(g.stages[0], g, Context(root, root / "Dockerfile"))
            times.append(time.perf_counter() - t0)
        assert len(inputs.steps[0].files) == files + 1  # and the Dockerfile
        times.sort()
        return {"files": files, "median_seconds": round(times[len(times) // 2], 3), "max_seconds": round(times[-1], 3)}


def main() -> None:
    compile_bytecode()
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    extra = {"context": context_cost(files, repeat)}
    with example_copy("gcc") as project:
        run(sys.executable, "-m", "stagecache", "bake", "-C", str(project), "--progress", "plain")  # fill the caches
        config = cfg.load(project / "stagecache.toml", env={})
        runner = Runner()
        real = why.Record.start

        def with_record() -> None:
            why.Record.start = real  # type: ignore[method-assign]
            bake(make_plan(config), runner)

        def without_record() -> None:
            why.Record.start = classmethod(lambda cls, plan: cls(plan))  # type: ignore[method-assign]
            try:
                bake(make_plan(config), runner)
            finally:
                why.Record.start = real  # type: ignore[method-assign]

        times = alternate({"explained": with_record, "plain": without_record}, repeat)
    finish("explain-cost", repeat, times, baseline="plain", variant="explained", target=1.05, extra=extra)


if __name__ == "__main__":
    main()
