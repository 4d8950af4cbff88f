"""Benchmark 1: stagecache's own overhead on a fully cached bake.

A: `stagecache bake` of examples/hello (local cache, warm engine, every step cached).
B: a shell script running the very same docker commands by hand (from `plan --json`): with
   every step cached, stagecache runs only the fast path's first build (one `docker buildx
   build` of the target importing every stage's cache, exporting nothing), so B runs that one
   command. Both sides do the same docker work; the ratio is stagecache's own cost.
Alternated, REPEAT times each. Target: A/B at most 1.10.

    .venv/bin/python benchmarks/overhead.py [REPEAT]
"""

from __future__ import annotations

import sys

from _common import STAGECACHE, alternate, compile_bytecode, example_copy, finish, hand_script, run


def main() -> None:
    compile_bytecode()
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with example_copy("hello") as project:
        script = hand_script(project, project.parent / "by-hand.sh", cached=True)
        run(STAGECACHE, "bake", "-C", str(project), "--progress", "plain")  # fill the caches
        times = alternate(
            {
                "stagecache": lambda: run(STAGECACHE, "bake", "-C", str(project), "--progress", "plain"),
                "by-hand": lambda: run("sh", str(script)),
            },
            repeat,
        )
        finish("overhead", repeat, times, baseline="by-hand", variant="stagecache", target=1.1)


if __name__ == "__main__":
    main()
