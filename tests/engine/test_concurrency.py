"""Several CI jobs of one project on one engine and one registry, started at the same moment:
each bake succeeds (a race it loses is tried again, see stagecache.transient), and the cache
they leave behind serves a fresh runner completely."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.engine.conftest import Project, all_cached

STAGECACHE = str(Path(sys.executable).parent / "stagecache")
JOBS = 4


def bake_all_at_once(roots: list[Path]) -> list[dict]:
    procs = [
        subprocess.Popen(
            [STAGECACHE, "bake", "-C", str(root), "--progress", "plain", "--report", str(root / "report.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for root in roots
    ]
    done = [(p, *p.communicate(timeout=600)) for p in procs]
    for proc, _out, err in done:
        assert proc.returncode == 0, err[-4000:]
    return [json.loads((root / "report.json").read_text()) for root in roots]


def test_four_bakes_of_one_project_at_once_all_succeed_and_fill_the_cache(make_project) -> None:
    p: Project = make_project("diamond")
    p.configure("registry", "max")
    p.fresh_runner()
    roots = [p.root]
    for i in range(1, JOBS):
        copy = p.root.with_name(f"{p.root.name}-job{i}")
        shutil.copytree(p.root, copy)
        roots.append(copy)

    first = bake_all_at_once(roots)
    for root in roots:  # a new commit: every job builds it at the same time again
        with open(root / "a.txt", "a") as fh:
            fh.write("second commit\n")
    second = bake_all_at_once(roots)
    retries = sum(s["retries"] for report in first + second for s in report["stages"])
    print(f"{2 * JOBS} concurrent bakes, {retries} retries")
    for report in first + second:
        assert {s["status"] for s in report["stages"]} == {"built"}, report["stages"]

    p.fresh_runner()
    fresh = p.bake()
    assert all_cached(fresh), [(s.stage, s.cached, s.steps) for s in fresh.stages]
