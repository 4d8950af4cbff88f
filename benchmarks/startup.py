"""Benchmark: start-up. `stagecache --help` against `python -c 'import typer'` (the floor
for any typer CLI), alternated. Target: at most 1.5x. Also `--version` and `plan`.

    .venv/bin/python benchmarks/startup.py [REPEAT]
"""

from __future__ import annotations

import json
import sys

from _common import EXAMPLES, STAGECACHE, alternate, run, summary, versions, write_result


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    times = alternate(
        {
            "import-typer": lambda: run(sys.executable, "-c", "import typer"),
            "help": lambda: run(STAGECACHE, "--help"),
            "version": lambda: run(STAGECACHE, "--version"),
            "plan": lambda: run(STAGECACHE, "plan", "-C", str(EXAMPLES / "hello")),
        },
        repeat,
    )
    result = {
        "benchmark": "startup",
        "repeat": repeat,
        "versions": versions(),
        "seconds": summary(times, "import-typer"),
    }
    path = write_result("startup", result)
    print(json.dumps(result, indent=2))
    ratio = result["seconds"]["help"]["ratio_to_import-typer"]
    print(f"--help / import typer = {ratio:.3f} (target <= 1.5): {'OK' if ratio <= 1.5 else 'MISSED'}; {path}")


if __name__ == "__main__":
    main()
