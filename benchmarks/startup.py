"""Benchmark: start-up. `stagecache --help` against `python -c 'import typer'` (the floor
for any typer CLI), alternated. Target: at most 1.5x. Also `--version` and `plan`.

    .venv/bin/python benchmarks/startup.py [REPEAT]
"""

from __future__ import annotations

import sys

from _common import EXAMPLES, STAGECACHE, alternate, compile_bytecode, finish, run


def main() -> None:
    compile_bytecode()
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
    finish("startup", repeat, times, baseline="import-typer", variant="help", target=1.5)


if __name__ == "__main__":
    main()
