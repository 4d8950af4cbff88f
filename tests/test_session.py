"""``[build].execution = "bake"`` (stagecache.session) through ``run_bake``, with a scripted
runner that replays the recorded bake sessions of tests/data/rawjson (bake-session: base ->
deps-a, deps-b -> app): each stage's row from the one stream, which stage a failure belongs
to, pushes only after the whole session succeeded, interruptions, the network check."""

from __future__ import annotations

import hashlib
import signal
import threading
from pathlib import Path

import pytest

from stagecache import localcache, report
from stagecache.bake import bake, run_bake
from stagecache.errors import BuildFailed, EnvironmentProblem, Interrupted, RegistryError
from stagecache.plan import BuildPlan
from tests.fake_runner import RecordingDisplay, Script, ScriptedRunner, plan_for, recording

STAGES = ("base", "deps-a", "deps-b", "app")
PUSHED = {s: (f"registry.example/app:{s}",) for s in STAGES}
PUSH = '[project]\nimage = "registry.example/app"\npush = true\n'


def session(tmp_path: Path, toml: str = "", failing: bool = False) -> BuildPlan:
    dockerfile = "bake-session-fail.Dockerfile" if failing else "bake-session.Dockerfile"
    return plan_for(tmp_path, dockerfile, f'{toml}\n[build]\nexecution = "bake"\nfast_path = false\n')


def rows(result) -> dict[str, tuple[str, int, int]]:
    return {s.stage: (s.status, len(s.steps), s.cached) for s in result.stages}


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        (
            "warm",
            {"base": ("built", 3, 3), "deps-a": ("built", 1, 1), "deps-b": ("built", 1, 1), "app": ("built", 2, 2)},
        ),
        (
            "cold",
            {"base": ("built", 3, 0), "deps-a": ("built", 1, 0), "deps-b": ("built", 1, 0), "app": ("built", 2, 1)},
        ),
    ],
)
def test_each_stage_gets_its_own_row_from_the_one_stream(tmp_path: Path, run: str, expected: dict) -> None:
    plan = session(tmp_path, PUSH)
    runner = ScriptedRunner(bake=Script(recording(f"bake-session.{run}.rawjson"), seconds=0.01))
    display = RecordingDisplay()
    result = run_bake(plan, runner, display)

    assert result.status == "success" and result.error is None
    assert rows(result) == expected
    assert [d for *_, d in display.started] == ["cache none, push, one bake session"] * 4
    assert [(s, i, n) for s, i, n, _ in display.started] == [(s, i, 4) for i, s in enumerate(STAGES, 1)]
    # One session, then the pushes, in plan order, once it has ended.
    assert [c.key for c in runner.calls] == ["bake", *(f"push {PUSHED[s][0]}" for s in STAGES)]
    assert all(c.started >= runner.calls[0].ended for c in runner.calls[1:])
    assert {s.stage: s.pushed for s in result.stages} == PUSHED
    assert all(s.started_at is not None and s.finished_at >= s.started_at for s in result.stages)
    # The bake file was passed by path and is gone afterwards.
    path = runner.calls[0].argv[runner.calls[0].argv.index("--file") + 1]
    assert not Path(path).exists()


def test_a_failed_session_is_the_failing_stage_s_failure_and_pushes_nothing(tmp_path: Path) -> None:
    plan = session(tmp_path, PUSH, failing=True)
    runner = ScriptedRunner(bake=Script(recording("bake-session-fail.cold.rawjson"), exit_code=1))
    result = run_bake(plan, runner)

    assert result.status == "failed"
    assert isinstance(result.error, BuildFailed) and result.error.exit_code == 1
    assert str(result.error).startswith(
        "stage 'deps-b', step 1 (COPY missing-file.txt ./b.txt) failed (builder exit 1):"
    )
    assert '"/missing-file.txt": not found' in str(result.error)
    # In the recording, BuildKit also marked the shared FROM "context canceled": base did not
    # complete either. Only deps-b failed; nothing claims to be built or pushed.
    assert rows(result) == {
        "base": ("cancelled", 3, 3),
        "deps-a": ("cancelled", 1, 0),
        "deps-b": ("failed", 1, 0),
        "app": ("cancelled", 2, 0),
    }
    assert [c.key for c in runner.calls] == ["bake"]
    assert all(s.pushed == () for s in result.stages)
    with pytest.raises(BuildFailed):
        bake(plan, runner)


def test_a_failed_session_leaves_the_local_caches_as_they_were(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(".stagecache\n")
    plan = session(tmp_path, '[cache]\nmode = "local"\n', failing=True)
    cache = tmp_path / ".stagecache" / "cache"
    for stage in STAGES:  # a previous run's caches, each with one blob
        (cache / stage / "blobs" / "sha256").mkdir(parents=True)
        (cache / stage / "blobs" / "sha256" / hashlib.sha256(stage.encode()).hexdigest()).write_text(stage)
        (cache / stage / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    before = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
    seen: list[set[str]] = []

    def look(runner: ScriptedRunner, i: int) -> None:
        if i == 0:
            seen.append({p.name for p in cache.iterdir() if p.name.endswith(".incoming")})

    runner = ScriptedRunner(bake=Script(recording("bake-session-fail.cold.rawjson"), exit_code=1, on_chunk=look))
    result = run_bake(plan, runner)

    assert isinstance(result.error, BuildFailed)
    assert seen == [{f".{s}.incoming" for s in STAGES}]  # seeded for the session's exports
    after = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
    assert set(after) - set(before) == {localcache.LOCK, localcache.TAG}  # the lock stays (README)
    assert [p for p in after if p in before] == before  # no incoming folder left, every previous cache intact
    assert (cache / "app" / "blobs" / "sha256" / hashlib.sha256(b"app").hexdigest()).read_text() == "app"


def test_a_push_failure_after_the_session_claims_no_later_push(tmp_path: Path) -> None:
    plan = session(tmp_path, PUSH)
    refused = Script(recording("docker-push-unauthorized.txt"), exit_code=1)  # recorded: see tests/data/README.md
    runner = ScriptedRunner(
        bake=Script(recording("bake-session.warm.rawjson")), pushes={"registry.example/app:deps-a": refused}
    )
    result = run_bake(plan, runner)

    assert isinstance(result.error, RegistryError) and result.error.exit_code == 5
    assert str(result.error) == (
        "stage 'deps-a': the build ran but a registry operation failed: pushing registry.example/app:deps-a failed: "
        "authorization failed: no basic auth credentials."
    )
    assert [c.key for c in runner.calls] == [
        "bake",
        "push registry.example/app:base",
        "push registry.example/app:deps-a",
    ]
    assert {s.stage: (s.status, s.pushed) for s in result.stages} == {
        "base": ("built", PUSHED["base"]),
        "deps-a": ("failed", ()),
        "deps-b": ("built", ()),
        "app": ("built", ()),
    }
    assert result.status == "failed"


def test_a_ctrl_c_during_a_push_keeps_what_was_built_and_pushed(tmp_path: Path) -> None:
    plan = session(tmp_path, PUSH)

    def ctrl_c(runner: ScriptedRunner, i: int) -> None:
        if i == 1:
            threading.Timer(0.01, runner.cancel, (signal.SIGINT,)).start()

    slow_push = Script("", seconds=2.5, chunks=50, on_chunk=ctrl_c)
    runner = ScriptedRunner(
        bake=Script(recording("bake-session.warm.rawjson")), pushes={"registry.example/app:deps-a": slow_push}
    )
    result = run_bake(plan, runner)

    assert isinstance(result.error, Interrupted) and result.status == "interrupted"
    assert {s.stage: (s.status, s.pushed) for s in result.stages} == {
        "base": ("built", PUSHED["base"]),
        "deps-a": ("interrupted", ()),
        "deps-b": ("built", ()),
        "app": ("built", ()),
    }
    assert all(len(s.steps) for s in result.stages)  # the steps the session built are all reported


def test_an_interrupted_session_marks_every_stage_interrupted(tmp_path: Path) -> None:
    plan = session(tmp_path)

    def ctrl_c(runner: ScriptedRunner, i: int) -> None:
        if i == 1:
            threading.Timer(0.01, runner.cancel, (signal.SIGINT,)).start()

    runner = ScriptedRunner(
        bake=Script(recording("bake-session.cold.rawjson"), seconds=2.5, chunks=50, on_chunk=ctrl_c)
    )
    result = run_bake(plan, runner)

    assert runner.calls[0].outcome == "interrupted" and runner.calls[0].ended - runner.calls[0].started < 1.0
    assert result.status == "interrupted"
    assert isinstance(result.error, Interrupted) and result.error.exit_code == 130
    assert {s.stage: s.status for s in result.stages} == dict.fromkeys(STAGES, "interrupted")
    assert [line.split()[-1] for line in report.summary(result).splitlines()[2:6]] == ["interrupted"] * 4


def test_a_ctrl_c_before_the_session_started_never_starts_it(tmp_path: Path, monkeypatch) -> None:
    plan = session(tmp_path)
    runner = ScriptedRunner(bake=Script(recording("bake-session.warm.rawjson")))
    prepare = localcache.prepare

    def ctrl_c_while_preparing(build):
        runner.cancel(signal.SIGTERM)  # what the SIGTERM handler does
        return prepare(build)

    monkeypatch.setattr(localcache, "prepare", ctrl_c_while_preparing)
    result = run_bake(plan, runner)

    assert runner.refused == ["bake"] and runner.calls == []
    assert result.status == "interrupted" and result.error.exit_code == 128 + signal.SIGTERM
    assert {s.stage: s.status for s in result.stages} == dict.fromkeys(STAGES, "interrupted")


@pytest.mark.parametrize("keeps_network", [True, False])
def test_a_buildx_that_drops_the_network_is_refused_before_building(tmp_path: Path, keeps_network: bool) -> None:
    plan = session(tmp_path, '[project]\nnetwork = "none"\n')
    runner = ScriptedRunner(bake=Script(recording("bake-session.warm.rawjson")), keeps_network=keeps_network)
    display = RecordingDisplay()
    result = run_bake(plan, runner, display)

    if keeps_network:
        assert result.status == "success" and [c.key for c in runner.calls] == ["bake"]
        return
    assert runner.calls == [] and display.started == []  # no "==> [i/n]" header before the refusal
    assert isinstance(result.error, EnvironmentProblem) and result.error.exit_code == 3
    assert str(result.error) == (
        f'{plan.config.source}: [project].network = "none" is set, but this buildx (0.13.1) ignores a bake '
        'target\'s network, so execution = "bake" would build on the default network. Use execution = '
        '"per-stage" (--execution per-stage), or a buildx that supports the bake network attribute.'
    )
    assert {s.stage: s.status for s in result.stages} == dict.fromkeys(STAGES, "skipped")
