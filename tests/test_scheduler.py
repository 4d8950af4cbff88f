"""Per-stage builds (stagecache.scheduler, stagecache.stagebuild) through ``run_bake``, with a
scripted runner that replays recorded BuildKit streams: when stages start, how many at once,
what a failure, a cancellation or an interruption leaves, and the order of the report.

The project is the recorded many-stages scenario: base -> a, b, c; d <- a + b; e <- c;
f <- d + e; final <- f. Every stage's build replays ``many-stages.warm`` (a build of
``--target final``, so it lists every stage's steps; a build reports only its own stage's); a
failing stage replays ``fail-step-5-of-12.cold`` with its stage renamed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from stagecache import localcache, report
from stagecache.bake import bake, run_bake
from stagecache.errors import BuildFailed, EnvironmentProblem, Interrupted, RegistryError
from stagecache.plan import BuildPlan
from tests.fake_runner import Call, RecordingDisplay, Script, ScriptedRunner, plan_for, recording, renamed

STAGES = ("base", "a", "b", "c", "d", "e", "f", "final")
WARM = recording("many-stages.warm.rawjson")
FAILS_IN_A = renamed(recording("fail-step-5-of-12.cold.rawjson"), {"build": "a"})
LONG = 2.5  # a build that an assertion expects to be stopped long before it ends


def many_stages(tmp_path: Path, build: str = "", project: str = "") -> BuildPlan:
    # fast_path = false: these tests are about the per-stage builds themselves (tests/test_fastpath.py
    # covers the probe that comes first by default).
    return plan_for(tmp_path, "many-stages.Dockerfile", f"[project]\n{project}\n[build]\nfast_path = false\n{build}\n")


def scripts(seconds: float = 0.01, **special: Script) -> dict[str, Script]:
    """Every stage replays the warm recording in ``seconds``, except those in ``special``."""
    return {s: special.get(s, Script(WARM, seconds=seconds)) for s in STAGES}


def statuses(result) -> dict[str, str]:
    return {s.stage: s.status for s in result.stages}


def most_at_once(calls: list[Call]) -> int:
    """The largest number of calls that were running at the same moment."""
    edges = sorted([(c.started, 1) for c in calls] + [(c.ended, -1) for c in calls])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_stages_start_once_their_dependencies_are_built_up_to_jobs_at_a_time(tmp_path: Path, jobs: int) -> None:
    plan = many_stages(tmp_path, f"jobs = {jobs}")
    runner = ScriptedRunner(scripts(a=Script(WARM, seconds=0.1), b=Script(WARM, seconds=0.12)))
    display = RecordingDisplay()
    result = run_bake(plan, runner, display)

    assert result.status == "success" and result.error is None
    assert [c.key for c in runner.calls if c.key == "base"] == ["base"] and runner.calls[0].key == "base"
    for build in plan.builds:  # never before every stage it needs was built
        me = runner.call(build.stage)
        assert all(me.started >= runner.call(u).ended for u in build.upstream), build.stage
    assert most_at_once(runner.calls) == jobs
    a, b, c, e = (runner.call(s) for s in "abce")
    if jobs == 3:
        # a, b and c build side by side; e needs only c, so it starts while a and b still run.
        assert max(a.started, b.started, c.started) < min(a.ended, b.ended, c.ended)
        assert c.ended <= e.started < a.ended
    # Every stage reported, with the steps of its own stage only (the recording lists them all).
    assert [(s.stage, len(s.steps), s.cached) for s in result.stages] == [
        ("base", 2, 2), ("a", 2, 2), ("b", 3, 3), ("c", 2, 2), ("d", 3, 3), ("e", 2, 2), ("f", 2, 2), ("final", 2, 2)
    ]  # fmt: skip
    assert all(s.status == "built" and s.started_at is not None for s in result.stages)
    assert [(i, n) for _, i, n, _ in display.started] == [(i, 8) for i in range(1, 9)]
    assert [s for s, *_ in display.started] == [c.key for c in runner.calls]
    assert display.closed


def test_the_report_is_in_plan_order_whatever_order_the_builds_finished_in(tmp_path: Path) -> None:
    plan = many_stages(tmp_path, "jobs = 3")
    display = RecordingDisplay()

    def finish_after(stage: str):  # a's build ends once b's row is shown, b's once c's is
        def hook(runner: ScriptedRunner, i: int) -> None:
            deadline = time.monotonic() + 5
            while i == 0 and stage not in [s for s, _ in display.finished]:
                assert time.monotonic() < deadline
                time.sleep(0.001)

        return hook

    runner = ScriptedRunner(
        scripts(a=Script(WARM, on_chunk=finish_after("b")), b=Script(WARM, on_chunk=finish_after("c")))
    )
    result = run_bake(plan, runner, display)

    ended = [c.key for c in sorted(runner.calls, key=lambda c: c.ended or 0.0)]
    assert ended.index("c") < ended.index("b") < ended.index("a")
    assert [s for s, _ in display.finished if s in "abc"] == ["c", "b", "a"]  # shown as they finished
    assert [s.stage for s in result.stages] == list(STAGES)  # reported in plan order
    assert result.stages[1].finished_at >= result.stages[2].finished_at >= result.stages[3].finished_at


def test_after_a_failure_no_stage_starts_and_the_running_ones_finish(tmp_path: Path) -> None:
    plan = many_stages(tmp_path, "jobs = 2")  # on_failure = "finish" (the default)
    runner = ScriptedRunner(scripts(a=Script(FAILS_IN_A, exit_code=1), b=Script(WARM, seconds=0.08)))
    result = run_bake(plan, runner)

    assert result.status == "failed"
    assert isinstance(result.error, BuildFailed) and result.error.exit_code == 1
    message = str(result.error)
    assert message.startswith("stage 'a', step 5 (RUN echo \"fail-step-5-of-12: step 5 starts\" && echo")
    assert "failed (builder exit 1):" in message and "did not complete successfully: exit code: 3" in message
    assert "  | fail-step-5-of-12: fatal: giving up with 3" in message  # the step's last output
    assert [c.key for c in runner.calls] == ["base", "a", "b"]  # c was next, and never started
    assert runner.call("b").outcome == "exit 0" and runner.call("b").ended > runner.call("a").ended
    assert not runner.refused
    assert statuses(result) == {
        "base": "built", "a": "failed", "b": "built", "c": "skipped",
        "d": "skipped", "e": "skipped", "f": "skipped", "final": "skipped",
    }  # fmt: skip
    failed = result.stages[1]
    assert [(st.number, st.error is not None) for st in failed.steps][:4] == [
        (2, False),
        (3, False),
        (4, False),
        (5, True),
    ]
    assert len(result.stages[2].steps) == 3  # b's build finished and counts


def test_on_failure_cancel_stops_the_running_builds(tmp_path: Path) -> None:
    plan = many_stages(tmp_path, 'jobs = 3\non_failure = "cancel"')
    runner = ScriptedRunner(
        scripts(
            a=Script(FAILS_IN_A, exit_code=1, seconds=0.01), b=Script(WARM, seconds=LONG), c=Script(WARM, seconds=LONG)
        )
    )
    t0 = time.monotonic()
    result = run_bake(plan, runner)

    assert time.monotonic() - t0 < LONG / 2
    assert isinstance(result.error, BuildFailed) and str(result.error).startswith("stage 'a', step 5")
    assert runner.call("b").outcome == runner.call("c").outcome == "cancelled"
    assert statuses(result) == {
        "base": "built", "a": "failed", "b": "cancelled", "c": "cancelled",
        "d": "skipped", "e": "skipped", "f": "skipped", "final": "skipped",
    }  # fmt: skip
    assert result.status == "failed"


def test_a_stage_still_preparing_its_cache_never_starts_after_another_failed(tmp_path: Path, monkeypatch) -> None:
    """The bug this guards against: stage a failed at 0.015 s, yet stage b, whose build had
    been scheduled but was still seeding its local cache, built and finished at 2.5 s."""
    plan = many_stages(tmp_path, 'jobs = 2\non_failure = "cancel"')
    runner = ScriptedRunner(scripts(a=Script(FAILS_IN_A, exit_code=1, seconds=0.015), b=Script(WARM, seconds=LONG)))
    prepare = localcache.prepare

    def slow_for_b(build):
        if build.stage == "b":  # still preparing when a fails
            with runner._wake:
                assert runner._wake.wait_for(lambda: runner.cancelled, timeout=5)
        return prepare(build)

    monkeypatch.setattr(localcache, "prepare", slow_for_b)
    t0 = time.monotonic()
    result = run_bake(plan, runner)

    assert runner.refused == ["b"]  # run() was reached, and refused to start it
    assert [c.key for c in runner.calls] == ["base", "a"]
    assert statuses(result)["b"] == "cancelled" and statuses(result)["c"] == "skipped"
    assert isinstance(result.error, BuildFailed)
    assert time.monotonic() - t0 < LONG / 2


def _interrupt_when_running(stages: str, signum: int, at: int = 0):
    """An on_chunk hook: once every one of ``stages`` has started, a timer thread calls the
    real Runner.cancel(signum), as the signal handler does."""
    seen: set[int] = set()
    lock = threading.Lock()

    def hook(runner: ScriptedRunner, i: int) -> None:
        with lock:
            running = {c.key for c in runner.calls if c.outcome == "running"}
            if i == at and set(stages) <= running and not seen:
                seen.add(signum)
                threading.Timer(0.01, runner.cancel, (signum,)).start()

    return hook


def test_an_interruption_stops_every_running_build_and_keeps_the_summary(tmp_path: Path) -> None:
    plan = many_stages(tmp_path, "jobs = 3")
    hook = _interrupt_when_running("abc", signal.SIGINT)
    long = {s: Script(WARM, seconds=LONG, chunks=50, on_chunk=hook) for s in "abc"}
    runner = ScriptedRunner(scripts(**long))
    t0 = time.monotonic()
    result = run_bake(plan, runner)

    assert time.monotonic() - t0 < LONG / 2
    assert result.status == "interrupted"
    assert isinstance(result.error, Interrupted) and result.error.exit_code == 130
    assert str(result.error) == "interrupted by SIGINT; the running build was stopped"
    assert [c.outcome for c in runner.calls] == ["exit 0", "interrupted", "interrupted", "interrupted"]
    assert statuses(result) == {
        "base": "built", "a": "interrupted", "b": "interrupted", "c": "interrupted",
        "d": "skipped", "e": "skipped", "f": "skipped", "final": "skipped",
    }  # fmt: skip
    table = report.summary(result).splitlines()
    assert [line.split()[0] for line in table[2:]] == [*STAGES, "total"]
    assert [line.split()[-1] for line in table[3:6]] == ["interrupted"] * 3

    # The same runner builds again in the next bake (run_bake resets it), and bake() raises
    # what run_bake returns.
    runner.builds = scripts()
    assert run_bake(plan, runner).status == "success"
    runner.builds = scripts(b=Script(WARM, seconds=LONG, chunks=50, on_chunk=_interrupt_when_running("b", 15)))
    with pytest.raises(Interrupted) as info:
        bake(plan, runner)
    assert info.value.exit_code == 128 + signal.SIGTERM


def test_an_interrupted_stage_counts_the_steps_it_had_shown(tmp_path: Path) -> None:
    plan = many_stages(tmp_path, "jobs = 1")
    # The recorded stream, played back over 2 s; the signal comes after its cached steps (chunk 23).
    slow = Script(WARM, seconds=2.0, chunks=30, on_chunk=_interrupt_when_running("a", signal.SIGINT, at=25))
    runner = ScriptedRunner(scripts(a=slow))
    display = RecordingDisplay()
    result = run_bake(plan, runner, display)

    a = next(s for s in result.stages if s.stage == "a")
    shown = {e.step.number for e in display.events if e.kind == "cached" and e.step.stage == "a"}
    assert a.status == "interrupted" and shown
    assert {st.number for st in a.steps} == shown and a.cached == len(shown)
    table = report.summary(result).splitlines()
    row = next(line.split() for line in table if line.startswith("a "))
    assert row[1:3] == [str(len(shown)), str(len(shown))]


@pytest.mark.parametrize("how", ["cancel", "signal"])
def test_a_ctrl_c_while_no_build_runs_ends_the_bake_the_same_way(tmp_path: Path, how: str) -> None:
    """A Ctrl-C between two docker calls (here: base's build has exited, its local cache is
    about to be swapped in, the next builds are about to start)."""
    plan = many_stages(tmp_path, "jobs = 3")

    def ctrl_c(runner: ScriptedRunner) -> None:
        assert not runner._running  # no build is running
        if how == "cancel":
            runner.cancel(signal.SIGINT)  # what the SIGINT handler does
        else:
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # bake's handler is in place
            os.kill(os.getpid(), signal.SIGINT)

    runner = ScriptedRunner(scripts(base=Script(WARM, after=ctrl_c)))
    result = run_bake(plan, runner)

    assert result.status == "interrupted"
    assert isinstance(result.error, Interrupted) and result.error.exit_code == 130
    assert [c.key for c in runner.calls] == ["base"] and not runner.refused
    assert statuses(result) == {"base": "built", **{s: "skipped" for s in STAGES[1:]}}
    assert [line.split()[0] for line in report.summary(result).splitlines()[2:]] == [*STAGES, "total"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_interrupt_like_sigint(tmp_path: Path, signum: int) -> None:
    plan = many_stages(tmp_path, "jobs = 3")
    previous = signal.getsignal(signum)

    def send(runner: ScriptedRunner, i: int) -> None:
        if i == 0:  # bake's handler is in place: without it, this would end the test run
            assert signal.getsignal(signum) not in (signal.SIG_DFL, previous)
            os.kill(os.getpid(), signum)

    runner = ScriptedRunner(scripts(a=Script(WARM, seconds=LONG, chunks=50, on_chunk=send)))
    t0 = time.monotonic()
    result = run_bake(plan, runner)

    assert time.monotonic() - t0 < LONG / 2
    assert result.status == "interrupted" and result.error.exit_code == 128 + signum
    assert statuses(result)["a"] == "interrupted" and runner.call("a").outcome == "interrupted"
    assert signal.getsignal(signum) is previous  # restored after the bake


def test_a_push_failure_fails_the_stage_and_names_the_ref(tmp_path: Path) -> None:
    plan = many_stages(tmp_path, "jobs = 1", 'image = "registry.example/app"\npush = true')
    # docker push prints plain text, not rawjson: the registry's refusal, as docker shows it.
    refused = Script(recording("docker-push-unauthorized.txt"), exit_code=1)  # recorded: see tests/data/README.md
    runner = ScriptedRunner(scripts(), pushes={"registry.example/app:a": refused})
    result = run_bake(plan, runner)

    assert isinstance(result.error, RegistryError) and result.error.exit_code == 5
    assert str(result.error) == (
        "stage 'a': the build ran but a registry operation failed: pushing registry.example/app:a failed: "
        "authorization failed: no basic auth credentials."
    )
    assert [c.key for c in runner.calls] == [
        "base",
        "push registry.example/app:base",
        "a",
        "push registry.example/app:a",
    ]
    base, a = result.stages[:2]
    assert base.status == "built" and base.pushed == ("registry.example/app:base",)
    assert a.status == "failed" and a.pushed == () and len(a.steps) == 2
    assert all(s.status == "skipped" for s in result.stages[2:])


def test_a_ctrl_c_during_a_push_reports_the_stage_interrupted_with_its_steps(tmp_path: Path) -> None:
    plan = many_stages(tmp_path, "jobs = 1", 'image = "registry.example/app"\npush = true')
    slow_push = Script("", seconds=2.5, chunks=50, on_chunk=_interrupt_when_running("", signal.SIGINT, at=1))
    runner = ScriptedRunner(scripts(), pushes={"registry.example/app:a": slow_push})
    result = run_bake(plan, runner)

    assert isinstance(result.error, Interrupted) and result.error.exit_code == 130
    a = next(s for s in result.stages if s.stage == "a")
    assert (a.status, a.pushed, a.cached, len(a.steps)) == ("interrupted", (), 2, 2)
    assert statuses(result)["base"] == "built" and statuses(result)["b"] == "skipped"


def test_run_bake_returns_the_error_and_bake_raises_it(tmp_path: Path) -> None:
    plan = many_stages(tmp_path, "jobs = 2")
    runner = ScriptedRunner(scripts(a=Script(FAILS_IN_A, exit_code=1)))
    result = run_bake(plan, runner)
    assert isinstance(result.error, BuildFailed) and result.status == "failed"
    with pytest.raises(BuildFailed) as info:
        bake(plan, runner)
    assert str(info.value) == str(result.error)
    runner.builds = scripts()
    assert bake(plan, runner).status == "success"


def test_a_signal_taken_by_a_build_thread_still_stops_the_builds(tmp_path: Path) -> None:
    """A process-wide signal may be delivered to any thread; its Python handler runs in the
    main thread, once that thread runs Python code. The scheduler's main thread waited for a
    build to finish with no timeout: the interruption was handled only after the build ended."""
    plan = many_stages(tmp_path, "jobs = 3")

    def on_this_thread(runner: ScriptedRunner, i: int) -> None:
        if i == 0:
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # not the main thread

    runner = ScriptedRunner(scripts(a=Script(WARM, seconds=LONG, chunks=50, on_chunk=on_this_thread)))
    t0 = time.monotonic()
    result = run_bake(plan, runner)

    assert result.status == "interrupted" and result.error.exit_code == 130
    assert runner.call("a").outcome == "interrupted"
    assert time.monotonic() - t0 < LONG / 2


@pytest.mark.parametrize("on_failure", ["finish", "cancel"])
def test_a_build_that_cannot_run_is_that_stage_s_failure(tmp_path: Path, on_failure: str) -> None:
    """An error raised by a stage's build rather than returned (docker could not be started,
    its new local cache could not be swapped in) ended the scheduler's loop: the builds still
    running were neither stopped nor reported (b built, and was reported "skipped")."""
    plan = many_stages(tmp_path, f'jobs = 2\non_failure = "{on_failure}"')

    def cannot_start(runner: ScriptedRunner, i: int) -> None:
        raise EnvironmentProblem("cannot run docker: Resource temporarily unavailable.")

    runner = ScriptedRunner(scripts(a=Script(WARM, on_chunk=cannot_start), b=Script(WARM, seconds=0.1, chunks=20)))
    result = run_bake(plan, runner)

    assert isinstance(result.error, EnvironmentProblem) and result.status == "failed"
    assert runner.call("a").outcome == "raised"
    expected_b = "built" if on_failure == "finish" else "cancelled"
    assert runner.call("b").outcome == ("exit 0" if on_failure == "finish" else "cancelled")
    assert statuses(result) == {"base": "built", "a": "failed", "b": expected_b, **dict.fromkeys("cdef", "skipped"),
                                "final": "skipped"}  # fmt: skip


def test_a_cache_that_could_not_be_seeded_is_said(tmp_path: Path, monkeypatch) -> None:
    plan = many_stages(tmp_path, "jobs = 1")
    monkeypatch.setattr(localcache, "prepare", lambda build: "could not hard-link" if build.stage == "c" else None)
    display = RecordingDisplay()
    assert run_bake(plan, ScriptedRunner(scripts(seconds=0.0)), display).status == "success"
    assert display.messages == ["warning: c: could not hard-link"]


def test_a_terminal_that_goes_away_ends_the_output_not_the_bake(tmp_path: Path) -> None:
    from stagecache.display import PlainDisplay

    class ClosedTerminal:
        """What a closed terminal does to every write after SIGHUP: EIO."""

        def write(self, text: str) -> int:
            raise OSError(5, "Input/output error")

        def flush(self) -> None:
            raise OSError(5, "Input/output error")

        def isatty(self) -> bool:
            return True

    plan = many_stages(tmp_path, "jobs = 2")
    result = run_bake(plan, ScriptedRunner(scripts()), PlainDisplay(ClosedTerminal()))  # type: ignore[arg-type]
    assert result.error is None and set(statuses(result).values()) == {"built"}
