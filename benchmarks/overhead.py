"""Benchmark 1: stagecache's own overhead on a fully cached bake.

A: `stagecache bake` of examples/hello (local cache, warm engine, every step cached).
B: a shell script running the very same docker commands by hand (from `plan --json`).
Alternated, REPEAT times each. Target: A/B at most 1.10.

    .venv/bin/python benchmarks/overhead.py [REPEAT]
"""

from __future__ import annotations

import json
import sys

from _common import STAGECACHE, alternate, copy_example, hand_script, run, summary, versions, write_result


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    project = copy_example("hello")
    script = hand_script(project, project.parent / "by-hand.sh")
    run(STAGECACHE, "bake", "-C", str(project), "--progress", "plain")  # fill the caches
    times = alternate(
        {
            "stagecache": lambda: run(STAGECACHE, "bake", "-C", str(project), "--progress", "plain"),
            "by-hand": lambda: run("sh", str(script)),
        },
        repeat,
    )
    result = {"benchmark": "overhead", "repeat": repeat, "versions": versions(), "seconds": summary(times, "by-hand")}
    path = write_result("overhead", result)
    print(json.dumps(result, indent=2))
    ratio = result["seconds"]["stagecache"]["ratio_to_by-hand"]
    print(f"stagecache / by hand = {ratio:.3f} (target <= 1.10): {'OK' if ratio <= 1.10 else 'MISSED'}; {path}")


if __name__ == "__main__":
    main()
