"""Benchmark 3: one `buildx bake` session against per-stage builds, cold and warm.

Runs `stagecache bench --execution per-stage,bake` on a copy of examples/diamond-copy whose
stages copy in a few MB each. (No RUN steps: the test engine's buildx 0.13 ignores a bake
target's network and the engine has no bridge network; see docs/engine.md.)

    .venv/bin/python benchmarks/bake_mode.py [REPEAT] [REGISTRY]

REGISTRY defaults to the engine script's registry (.engine/registry.addr).
Prunes the engine's whole build cache: run it on a dedicated engine.
"""

from __future__ import annotations

import os
import subprocess
import sys

from _common import ROOT, STAGECACHE, example_copy


def main() -> None:
    repeat = sys.argv[1] if len(sys.argv) > 1 else "3"
    registry = sys.argv[2] if len(sys.argv) > 2 else (ROOT / ".engine" / "registry.addr").read_text().strip()
    with example_copy("diamond-copy") as root:
        # A few MB per stage, so that there is something to cache and to transfer.
        for name, size in (("base.txt", 8), ("a.txt", 16), ("b.txt", 16)):
            (root / name).write_bytes(os.urandom(size * 1_000_000))
        (root / "stagecache.toml").write_text("[bench]\nallow_prune = true\n")
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        argv = [STAGECACHE, "bench", "-C", str(root), "--image", f"{registry}/bench/bake-mode"]
        argv += ["-s", "local,registry-max", "--execution", "per-stage,bake", "--scenario", "warm,cold"]
        argv += ["--repeat", repeat, "--progress", "plain", "--json", str(out / "bake-mode.json")]
        argv += ["--markdown", str(out / "bake-mode.md")]
        raise SystemExit(subprocess.run(argv).returncode)


if __name__ == "__main__":
    main()
