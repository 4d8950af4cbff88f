"""What a shared first export keeps: examples/diamond-copy baked with registry caches
(``mode=min``), its first bake with ``[cache].first_export = "per-stage"`` (each stage's build
exports its own cache, the default) and with ``"shared"`` (the first build's ``mode=max`` cache
copied to every stage's ref), each with per-stage builds and with one bake session.

Per case, on the engine of the engine script and its registry: a fresh runner and the first
bake; `a.txt` (which only `deps-a` copies in) edited; a fresh runner and a bake. What each stage
of that second bake took from cache is recorded; `deps-b` and `base` did not change.

    .venv/bin/python benchmarks/shared_first_export.py [REPEAT]   # default 3; results/shared-first-export.json

BuildKit does not always match the same imported record for a step, so each case runs REPEAT
times, alternated.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from _common import ROOT, STAGECACHE, compile_bytecode, versions, write_result

from stagecache.runner import Runner


def case(registry: str, first_export: str, execution: str, runner: Runner) -> dict:
    root = Path(tempfile.mkdtemp(prefix="stagecache-shared-"))
    shutil.copytree(ROOT / "examples" / "diamond-copy", root, dirs_exist_ok=True)
    image = f"{registry}/shared-{uuid.uuid4().hex[:8]}/diamond-copy"
    (root / "stagecache.toml").write_text(
        f'[project]\nimage = "{image}"\n[cache]\nmode = "registry"\nregistry_mode = "min"\n'
        f'first_export = "{first_export}"\n[build]\nexecution = "{execution}"\n'
    )
    report = root / "report.json"

    def bake() -> dict:
        runner.simulate_fresh_runner([image])
        done = subprocess.run(
            [STAGECACHE, "bake", "-C", str(root), "--report", str(report)], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"bake failed ({done.returncode}):\n{done.stderr[-2000:]}")
        return json.loads(report.read_text())

    first = bake()
    with open(root / "a.txt", "a") as fh:
        fh.write("edited\n")
    second = bake()
    runner.remove_repositories([image])
    shutil.rmtree(root, ignore_errors=True)
    return {
        "first_export": first_export,
        "execution": execution,
        "first_bake": {
            s["stage"]: {"copied_from": bool(s.get("copied_from")), "cache_to": s["cache_to"]} for s in first["stages"]
        },
        "after_editing_a_txt": {
            s["stage"]: {f"{t['number']} {t['instruction']}": t["cached"] for t in s["steps"]} for s in second["stages"]
        },
    }


def main() -> None:
    repeat = int(sys.argv[1]) if sys.argv[1:] else 3
    compile_bytecode()
    registry = (ROOT / ".engine" / "registry.addr").read_text().strip()
    runner = Runner()
    cases = []
    for _ in range(repeat):
        for execution in ("per-stage", "bake"):
            for first_export in ("per-stage", "shared"):
                cases.append(case(registry, first_export, execution, runner))
                print(json.dumps(cases[-1]["after_editing_a_txt"]), flush=True)
    unchanged: dict[str, list[str]] = {}
    for c in cases:
        kept = sum(sum(c["after_editing_a_txt"][s].values()) for s in ("base", "deps-b"))
        steps = sum(len(c["after_editing_a_txt"][s]) for s in ("base", "deps-b"))
        unchanged.setdefault(f"{c['execution']} {c['first_export']}", []).append(f"{kept}/{steps}")
    result = {"benchmark": "shared-first-export", "repeat": repeat, "versions": versions()}
    path = write_result("shared-first-export", {**result, "unchanged_steps_cached": unchanged, "cases": cases})
    for name, counts in unchanged.items():
        print(f"{name:20} steps of base and deps-b cached after the edit: {' '.join(counts)}")
    print(path)


if __name__ == "__main__":
    main()
