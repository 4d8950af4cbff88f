"""Which failures are tried again: the races between builds of one project (measured with four
concurrent bakes, see stagecache.transient), and nothing else."""

from __future__ import annotations

import pytest

from stagecache import transient
from stagecache.bake import run_bake
from stagecache.errors import BuildFailed
from tests.fake_runner import RecordingDisplay, Script, ScriptedRunner, plan_for, recording


@pytest.mark.parametrize(
    "text",
    [
        'ERROR: failed to solve: image "127.0.0.1:5000/app:deps-a": already exists',
        'failed commit on ref "index-sha256:1f": unexpected status from PUT request to http://127.0.0.1:5000/v2/app/'
        "manifests/deps-b: 400 Bad Request: manifest list/index references to blobs and/or manifests are missing",
        'error: failed to do request: Head "http://127.0.0.1:5000/v2/app/manifests/toolchain": '
        "500 Internal Server Error",
        'failed commit on ref "manifest-sha256:26307f": unexpected status from PUT request to '
        "http://127.0.0.1:47989/v2/t4f40a3dc/diamond/manifests/base: 400 Bad Request",
        "failed to push 127.0.0.1:5000/app:cache-a: unexpected status: 503 Service Unavailable",
        "read tcp 127.0.0.1:41234->127.0.0.1:5000: read: connection reset by peer",
        "ERROR: failed to solve: not found",
        'ERROR: failed to solve: failed to prepare extraction snapshot "extract-461183169-Mt04 sha256:5880": '
        "parent snapshot sha256:385758c8e39b70f03507391194c7cb6eff81b315edc3a84c90578d1dd0fcc090 does not exist: "
        "not found",
    ],
)
def test_races_and_server_errors_are_transient(text: str) -> None:
    assert transient.reason("some output\n" + text + "\nmore") == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        'ERROR: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2',
        "failed to push 127.0.0.1:5000/app:a: unauthorized: authentication required",
        "127.0.0.1:5000/nope/none:1: not found",
        'ERROR: failed to solve: failed to compute cache key: "/missing.txt": not found',
        "denied: requested access to the resource is denied",
        "server listening on port 5000",
    ],
)
def test_real_failures_are_not(text: str) -> None:
    assert transient.reason(text) is None


def test_the_backoff_doubles() -> None:
    waits: list[float] = []
    for attempt in (1, 2, 3):
        transient.pause(attempt, waits.append)
    assert waits == [0.5, 1.0, 2.0]


def _no_pause(monkeypatch) -> list[int]:
    paused: list[int] = []
    monkeypatch.setattr(transient, "pause", paused.append)
    return paused


def test_a_build_that_lost_a_load_race_runs_again_and_the_report_counts_it(tmp_path, monkeypatch) -> None:
    paused = _no_pause(monkeypatch)
    plan = plan_for(tmp_path, "load-race.Dockerfile")
    won = Script(recording("load-race.won.rawjson"))

    def then_win(runner: ScriptedRunner) -> None:
        runner.builds["a"] = won

    runner = ScriptedRunner({"a": Script(recording("load-race.lost.rawjson"), exit_code=1, after=then_win)})
    display = RecordingDisplay()
    result = run_bake(plan, runner, display)
    assert result.error is None and result.stages[0].status == "built"
    assert result.stages[0].retries == 1 and paused == [1]
    assert [c.key for c in runner.calls] == ["a", "a"]
    assert display.messages == [
        "note: a: building again after a transient error (ERROR: failed to solve: image "
        '"docker.io/library/race-fixture:a": already exists)'
    ]


def test_a_race_lost_every_time_fails_after_four_tries(tmp_path, monkeypatch) -> None:
    paused = _no_pause(monkeypatch)
    plan = plan_for(tmp_path, "load-race.Dockerfile")
    runner = ScriptedRunner({"a": Script(recording("load-race.lost.rawjson"), exit_code=1)})
    result = run_bake(plan, runner)
    assert isinstance(result.error, BuildFailed) and str(result.error).splitlines()[0] == (
        "stage 'a' failed (builder exit 1): other builds on this engine were loading the same image tag at the "
        "same moment, and this one lost every one of 4 tries. Give concurrent jobs their own tags "
        "([cache].tag with {branch}, or a per-job image), or run them one after another."
    )
    assert len(runner.calls) == transient.ATTEMPTS == 4 and paused == [1, 2, 3]
    assert result.stages[0].retries == 3


def test_a_failed_step_is_not_tried_again(tmp_path, monkeypatch) -> None:
    paused = _no_pause(monkeypatch)
    plan = plan_for(tmp_path, "fail-step-5-of-12.Dockerfile", "[build]\nfast_path = false\n")
    runner = ScriptedRunner({"build": Script(recording("fail-step-5-of-12.cold.rawjson"), exit_code=1)})
    result = run_bake(plan, runner)
    assert isinstance(result.error, BuildFailed) and len(runner.calls) == 1 and paused == []


def test_a_push_refused_with_a_server_error_is_pushed_again(tmp_path, monkeypatch) -> None:
    paused = _no_pause(monkeypatch)
    plan = plan_for(tmp_path, "load-race.Dockerfile", '[project]\nimage = "registry.example/app"\npush = true\n')
    ok = Script()

    def then_ok(runner: ScriptedRunner) -> None:
        runner.pushes["registry.example/app:a"] = ok

    # docker push prints plain text; this is its wording for a registry's 500.
    error = Script("received unexpected HTTP status: 500 Internal Server Error\n", exit_code=1, after=then_ok)
    runner = ScriptedRunner({"a": Script(recording("load-race.won.rawjson"))}, pushes={"registry.example/app:a": error})
    result = run_bake(plan, runner)
    assert result.error is None and result.stages[0].pushed == ("registry.example/app:a",)
    assert result.stages[0].retries == 1 and paused == [1]


def test_a_lost_load_race_is_tried_again_though_a_shared_step_reports_an_error(tmp_path, monkeypatch) -> None:
    """Four builds of one target at once (recorded): the one that lost the --load race also saw a
    step it shared with another build cancelled. The build failed after solving, so it is a race,
    not the step's failure."""
    paused = _no_pause(monkeypatch)
    plan = plan_for(tmp_path, "load-race-shared.Dockerfile", '[build]\nscope = "final"\n')
    lost = recording("load-race-shared.lost.rawjson")
    won = Script(recording("load-race-shared.won.rawjson"))

    def then_win(runner: ScriptedRunner) -> None:
        runner.builds["runtime"] = won

    runner = ScriptedRunner({"runtime": Script(lost, exit_code=1, after=then_win)})
    result = run_bake(plan, runner)
    assert result.error is None and [c.key for c in runner.calls] == ["runtime", "runtime"]
    assert paused == [1] and result.stages[-1].retries == 1
