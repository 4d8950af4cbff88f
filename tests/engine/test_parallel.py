"""Parallel stages on the real engine: independent stages overlap in time, the
report is the same as a sequential bake's, and failures stop (or cancel) cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stagecache.errors import BuildFailed
from tests.engine.conftest import Project, hits, interrupt_when, table

STAGECACHE = str(Path(sys.executable).parent / "stagecache")
# The scheduler itself is under test: no fast path first (tests/engine/test_fastpath.py has it).
PER_STAGE = "[build]\nfast_path = false\n"


def content(result) -> list[tuple]:
    """What must not depend on --jobs: stages in order, status, and every step's hit or miss."""
    return [(s.stage, s.status, tuple((st.number, st.line, st.cached) for st in s.steps)) for s in result.stages]


def test_independent_stages_build_at_the_same_time_with_the_same_report(make_project) -> None:
    p: Project = make_project("diamond")
    p.configure("local", extra=PER_STAGE)
    p.fresh_runner()
    sequential = p.bake(jobs=1)
    p.fresh_runner()
    # The cache is in the local directory now, so edit a.txt and b.txt to make both sides rebuild.
    p.append("a.txt", "x")
    p.append("b.txt", "y")
    parallel = p.bake(jobs=2)
    stages = {s.stage: s for s in parallel.stages}
    a, b = stages["deps-a"], stages["deps-b"]
    assert a.started_at is not None and b.started_at is not None
    assert a.started_at < b.finished_at and b.started_at < a.finished_at, (a, b)  # they overlapped
    assert stages["app"].started_at >= max(a.finished_at, b.finished_at)  # app waited for both
    assert [s.stage for s in parallel.stages] == [s.stage for s in sequential.stages]
    assert hits(parallel)["deps-a"] == {1: True, 2: True, 3: False, 4: False}

    # With no change, the same content whatever --jobs is.
    p.fresh_runner()
    again_1 = p.bake(jobs=1)
    p.fresh_runner()
    again_2 = p.bake(jobs=2)
    assert content(again_1) == content(again_2)


@pytest.mark.parametrize(("on_failure", "deps_a"), [("finish", "built"), ("cancel", "cancelled")])
def test_a_failure_starts_nothing_new_and_running_stages_finish_or_are_cancelled(
    make_project, on_failure: str, deps_a: str
) -> None:
    p: Project = make_project("diamond")
    p.configure("local", extra=f'{PER_STAGE}on_failure = "{on_failure}"\n')
    dockerfile = p.root / "Dockerfile"
    text = dockerfile.read_text()
    text = text.replace("COPY a.txt .\n", "COPY a.txt .\nRUN sleep 4\n")
    text = text.replace("COPY b.txt .\n", "COPY b.txt .\nRUN echo broken >&2 && exit 3\n")
    dockerfile.write_text(text)
    result = p.bake_fails(jobs=2)
    assert isinstance(result.error, BuildFailed)
    assert "stage 'deps-b', step 4 (RUN echo broken >&2 && exit 3)" in result.error.message
    status = {s.stage: s.status for s in result.stages}
    assert status == {"base": "built", "deps-a": deps_a, "deps-b": "failed", "app": "skipped", "runtime": "skipped"}
    leftover = subprocess.run(["pgrep", "-f", f"buildx build.*{p.root}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_sigint_stops_every_parallel_build(make_project) -> None:
    p: Project = make_project("diamond")
    p.configure("local", extra=PER_STAGE)
    dockerfile = p.root / "Dockerfile"
    text = dockerfile.read_text()
    text = text.replace("COPY a.txt .\n", "COPY a.txt .\nRUN sleep 30\n").replace(
        "COPY b.txt .\n", "COPY b.txt .\nRUN sleep 30\n"
    )
    dockerfile.write_text(text)
    proc = subprocess.Popen(
        [STAGECACHE, "bake", "-C", str(p.root), "--progress", "plain", "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Both sides of the diamond have started (==> [2/5] and [3/5]); give them time to reach the sleep.
    out, err = interrupt_when(proc, lambda seen: seen[-1].startswith("==> [3/5]"), settle=4.0)
    assert proc.returncode == 130, err
    assert "Error: interrupted by SIGINT" in err
    rows = {line.split()[0]: line.split()[-1] for line in table(out)[:-1]}
    assert rows["deps-a"] == "interrupted" and rows["deps-b"] == "interrupted" and rows["app"] == "skipped"
    assert not list((p.root / ".stagecache" / "cache").glob(".*.incoming"))
    leftover = subprocess.run(["pgrep", "-f", f"buildx build.*{p.root}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
