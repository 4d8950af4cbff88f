"""The runner's process handling with real processes and no engine: a stub ``docker`` (sh)
first on PATH, which prints a recorded stream, records its pid (and its helper's, a second
process in its group, as the buildx plugin is under the docker CLI) and sleeps.

What is proved: a build is stopped with its whole process group when stagecache is stopped by
SIGINT, SIGTERM or SIGHUP (exit 128 + signal, the "interrupted" error line and the summary
still printed); a build dies with stagecache when stagecache is SIGKILLed
(``setpriv --pdeathsig``); after ``cancel()`` no process starts until ``reset()``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stagecache import runner as runner_module
from stagecache.errors import Cancelled, EnvironmentProblem, Interrupted, RegistryError
from stagecache.plan import Command
from stagecache.runner import Runner, _kill_group
from tests.fake_runner import RAW

STAGECACHE = str(Path(sys.executable).parent / "stagecache")
STREAM = RAW / "twelve-steps.cold.rawjson"
STUB = """\
#!/bin/sh
# A stub docker: `push` fails or succeeds at once; anything else is a build that prints a
# recorded stream, then exits $STUB_EXIT or sleeps until it is stopped.
echo $$ >> "$STUB_DIR/pids"
if [ "$1" = push ]; then
  echo "denied: requested access to the resource is denied" >&2
  exit "${STUB_PUSH_EXIT:-1}"
fi
if [ -n "$STUB_HELPER" ]; then
  sleep 30 &
  echo $! >> "$STUB_DIR/helpers"
fi
[ -n "$STUB_SAY" ] && echo "$STUB_SAY"
cat "$STUB_STREAM"
[ -n "$STUB_CUT" ] && printf '\\303'  # the first byte of a two-byte UTF-8 character, and no more
[ -n "$STUB_EXIT" ] && exit "$STUB_EXIT"
exec sleep 30
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that still runs (a zombie waiting for its reaper does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def gone(pids: list[int], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def read_pids(path: Path, count: int = 1, timeout: float = 10.0) -> list[int]:
    """The pids the stub wrote to ``path``, once there are ``count``."""
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().split() if path.exists() else []
        if len(lines) >= count:
            return [int(x) for x in lines]
        assert time.monotonic() < deadline, f"the stub never wrote {path.name}"
        time.sleep(0.005)


@pytest.fixture
def stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The stub docker first on PATH (of this process too: the runner finds docker there),
    its environment, and at the end no stub process left, whatever the test did."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    docker = bindir / "docker"
    docker.write_text(STUB)
    docker.chmod(0o755)
    state = tmp_path / "stub"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("STUB_DIR", str(state))
    monkeypatch.setenv("STUB_STREAM", str(STREAM))
    for name in ("STUB_HELPER", "STUB_EXIT", "STUB_SAY", "STUB_PUSH_EXIT", "STUB_CUT"):
        monkeypatch.delenv(name, raising=False)
    yield state
    for name in ("pids", "helpers"):
        path = state / name
        for pid in path.read_text().split() if path.exists() else []:
            if alive(int(pid)):  # only processes this test started
                os.kill(int(pid), signal.SIGKILL)


def build(target: str = "a") -> Command:
    return Command(("docker", "buildx", "build", "--progress=rawjson", "--target", target, "."))


def test_run_streams_the_output_and_returns_the_exit_code(stub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUB_EXIT", "3")
    runner = Runner()
    out: list[str] = []
    rc = runner.run(Command(build().argv, (("STUB_SAY", "from the command's env"),)), out.append)
    assert rc == 3
    assert "".join(out) == "from the command's env\n" + STREAM.read_text()
    assert not runner._running and runner.docker_seconds > 0
    out.clear()
    assert runner.run(Command(build().argv, (("STUB_CUT", "1"),)), out.append) == 3
    assert "".join(out) == STREAM.read_text() + "\ufffd"  # a cut character is replaced, not dropped


@pytest.mark.parametrize(("signum", "error"), [(0, Cancelled), (signal.SIGTERM, Interrupted)])
def test_after_cancel_no_process_starts_until_reset(stub: Path, monkeypatch, signum: int, error: type) -> None:
    monkeypatch.setenv("STUB_EXIT", "0")
    runner = Runner()
    runner.cancel(signum)
    assert runner.cancelled
    with pytest.raises(error) as info:
        runner.run(build(), lambda _: None)
    assert info.value.exit_code == (128 + signum if signum else 1)
    with pytest.raises(error):
        runner.push(Command(("docker", "push", "--quiet", "registry.example/app:a")))
    assert not (stub / "pids").exists()  # no process was started
    runner.reset()
    assert not runner.cancelled
    assert runner.run(build(), lambda _: None) == 0
    assert len(read_pids(stub / "pids")) == 1


def test_a_signal_upgrades_a_failure_s_cancel_but_not_the_other_way(stub: Path) -> None:
    runner = Runner(env={})
    runner.cancel()
    runner.cancel(signal.SIGINT)
    runner.cancel()
    with pytest.raises(Interrupted) as info:
        runner.run(build(), lambda _: None)
    assert info.value.exit_code == 130


def test_cancel_stops_a_running_build_and_its_whole_group(stub: Path, monkeypatch) -> None:
    monkeypatch.setenv("STUB_HELPER", "1")
    runner = Runner()

    def stop() -> None:
        read_pids(stub / "helpers")
        runner.cancel(signal.SIGINT)

    threading.Thread(target=stop).start()
    t0 = time.monotonic()
    with pytest.raises(Interrupted) as info:
        runner.run(build(), lambda _: None)
    assert info.value.exit_code == 130 and time.monotonic() - t0 < 5
    assert gone(read_pids(stub / "pids") + read_pids(stub / "helpers"))
    assert not runner._running and not runner._cancelled


def test_an_error_while_reading_the_output_stops_the_build(stub: Path, monkeypatch) -> None:
    monkeypatch.setenv("STUB_HELPER", "1")
    runner = Runner()

    def broken(_text: str) -> None:
        read_pids(stub / "helpers")
        raise RuntimeError("display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        runner.run(build(), broken)
    assert gone(read_pids(stub / "pids") + read_pids(stub / "helpers"))


def test_push_runs_like_a_build_and_names_the_ref_when_it_fails(stub: Path, monkeypatch) -> None:
    runner = Runner()
    push = Command(("docker", "push", "--quiet", "registry.example/app:a"))
    with pytest.raises(RegistryError) as info:
        runner.push(push)
    assert str(info.value) == (
        "pushing registry.example/app:a failed: denied: requested access to the resource is denied."
    )
    assert info.value.exit_code == 5
    monkeypatch.setenv("STUB_PUSH_EXIT", "0")
    Runner().push(push)  # succeeds: no error


def test_a_docker_that_cannot_start_is_an_environment_problem(monkeypatch) -> None:
    class Missing(Runner):
        @property
        def docker_cmd(self) -> list[str]:
            return ["/nonexistent/docker"]

    monkeypatch.setattr(runner_module, "_DEATH_PACT", ())
    with pytest.raises(EnvironmentProblem) as info:
        Missing(env={}).run(build(), lambda _: None)
    assert str(info.value) == "cannot run /nonexistent/docker: No such file or directory."


def _group(ignore_term: bool) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A process group: a sh leader and a sleeping child; both ignore SIGTERM if asked."""
    trap = "trap '' TERM; " if ignore_term else ""
    proc = subprocess.Popen(
        ["sh", "-c", f"{trap}sleep 30 & echo $!; wait"], stdout=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    proc.stdout.close()
    return proc, [proc.pid, child]


def test_kill_group_stops_the_whole_group() -> None:
    proc, pids = _group(ignore_term=False)
    _kill_group(proc)
    assert proc.returncode == -signal.SIGTERM
    assert gone(pids)
    _kill_group(proc)  # already gone: nothing to do


def test_kill_group_kills_a_group_that_ignores_sigterm() -> None:
    proc, pids = _group(ignore_term=True)
    wait = proc.wait

    def impatient(timeout: float | None = None) -> int:
        if timeout is not None:  # Runner waits 10 s for SIGTERM to work; don't, here
            time.sleep(0.05)
            assert alive(pids[0]) and alive(pids[1])  # SIGTERM was ignored
            raise subprocess.TimeoutExpired(proc.args, timeout)
        return wait()

    proc.wait = impatient  # type: ignore[method-assign]
    _kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    assert gone(pids)


def test_interruptible_turns_a_signal_into_interrupted_and_restores_the_handlers() -> None:
    runner = Runner(env={})
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with pytest.raises(Interrupted) as info:
        with runner.interruptible():
            assert all(signal.getsignal(s) is not h for s, h in before.items())
            os.kill(os.getpid(), signal.SIGHUP)  # a closed terminal
            for _ in range(100):  # the handler runs in this (the main) thread, between bytecodes
                if runner.cancelled:
                    break
                time.sleep(0.001)
            assert runner.cancelled
    assert info.value.exit_code == 128 + signal.SIGHUP
    assert {s: signal.getsignal(s) for s in before} == before
    runner.reset()
    with runner.interruptible():  # nothing happened: nothing raised
        pass


def test_interruptible_leaves_signals_alone_outside_the_main_thread() -> None:
    runner = Runner(env={})
    seen: list[object] = []
    before = signal.getsignal(signal.SIGINT)

    def work() -> None:
        with runner.interruptible():
            seen.append(signal.getsignal(signal.SIGINT))
        seen.append("done")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [before, "done"]


# --- a real `stagecache bake`, stopped ------------------------------------------------------


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM busybox AS a\nRUN true\n\nFROM a AS b\nRUN true\n")
    (project / "stagecache.toml").write_text(
        '[project]\nnetwork = "none"\n\n[cache]\nmode = "none"\n[build]\nfast_path = false\n'
    )
    return project


def _start_bake(tmp_path: Path) -> subprocess.Popen[str]:
    """``stagecache bake`` in a session of its own (so that a signal to its group reaches
    nothing else), once its first build (stage a) runs."""
    return subprocess.Popen(
        [STAGECACHE, "bake", "-C", str(_project(tmp_path)), "--progress", "plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stopped_bake_stops_its_build_and_still_reports(tmp_path: Path, stub: Path, monkeypatch, signum) -> None:
    monkeypatch.setenv("STUB_HELPER", "1")
    bake = _start_bake(tmp_path)
    try:
        build_pid, helper = read_pids(stub / "pids")[0], read_pids(stub / "helpers")[0]
        assert alive(build_pid) and alive(helper)
        os.kill(bake.pid, signum)
        out, err = bake.communicate(timeout=15)
    finally:
        if bake.poll() is None:
            bake.kill()
    assert gone([build_pid, helper])
    assert bake.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert f"Error: interrupted by {name}; the running build was stopped" in err.splitlines()
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[2:]}
    assert rows["a"] == "interrupted" and rows["b"] == "skipped" and "total" in rows
    assert len(read_pids(stub / "pids")) == 1  # stage b never started


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs util-linux setpriv (PR_SET_PDEATHSIG)")
@pytest.mark.parametrize("whole_group", [False, True])
def test_a_killed_bake_takes_its_build_with_it(tmp_path: Path, stub: Path, whole_group: bool) -> None:
    assert runner_module._DEATH_PACT == ("setpriv", "--pdeathsig", "TERM")
    bake = _start_bake(tmp_path)
    try:
        build_pid = read_pids(stub / "pids")[0]
        assert alive(build_pid)
        if whole_group:  # the build has a process group of its own: this does not reach it
            os.killpg(bake.pid, signal.SIGKILL)
        else:
            os.kill(bake.pid, signal.SIGKILL)
        bake.communicate(timeout=15)
    finally:
        if bake.poll() is None:
            bake.kill()
    assert bake.returncode == -signal.SIGKILL
    assert gone([build_pid], timeout=5)


# --- signals that reach stagecache at an awkward moment -------------------------------------


def test_a_cancel_while_the_process_is_being_started_stops_it(stub: Path, monkeypatch) -> None:
    """What a signal handler does when it runs in the thread that is starting the build (see
    the next test, with a real signal): the process started is stopped at once."""
    runner = Runner()
    real = subprocess.Popen

    def popen(*args, **kwargs):
        runner.cancel(signal.SIGINT)  # the runner's lock is held here
        return real(*args, **kwargs)

    monkeypatch.setattr(runner_module.subprocess, "Popen", popen)
    t0 = time.monotonic()
    with pytest.raises(Interrupted):
        runner.run(build(), lambda _: None)
    assert time.monotonic() - t0 < 5
    pids = (stub / "pids").read_text().split() if (stub / "pids").exists() else []
    assert gone([int(p) for p in pids])


_SIGNAL_DURING_POPEN = """
import os, signal, subprocess, sys
from stagecache.errors import Interrupted
from stagecache.plan import Command
from stagecache.runner import Runner

real = subprocess.Popen

def popen(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the build is being started
    for _ in range(10000):  # the handler runs here, in this thread, while run() starts the process
        pass
    return real(*args, **kwargs)

subprocess.Popen = popen
runner = Runner()
try:
    with runner.interruptible():
        runner.run(Command(("docker", "buildx", "bake", "--progress=rawjson")), lambda _: None)
except Interrupted as exc:
    print("interrupted", exc.exit_code)
"""


def test_a_signal_while_the_main_thread_starts_a_build_stops_it(stub: Path) -> None:
    """A bake session (and its pushes) runs docker from the main thread, where the signal
    handler runs too: a Ctrl-C that arrived while run() was starting the process deadlocked
    on the runner's lock (stagecache hung until SIGKILL), then started the build anyway."""
    try:
        done = subprocess.run([sys.executable, "-c", _SIGNAL_DURING_POPEN], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("stagecache hung: the signal handler waited for the lock its own thread held")
    assert done.stdout == "interrupted 130\n", done.stderr
    pids = (stub / "pids").read_text().split() if (stub / "pids").exists() else []  # often stopped before that
    assert gone([int(p) for p in pids])


def test_a_signal_taken_by_another_thread_still_stops_a_session(stub: Path) -> None:
    """The process-wide SIGTERM may be delivered to any thread (the dockerfile module's Go
    runtime has several); its Python handler runs in the main thread only once that thread
    runs Python code again. A bake session's main thread waits for the build's output: a build
    that printed nothing more kept running (here: 30 s) before the interruption was handled."""
    runner = Runner()
    out: list[str] = []
    printed = len(STREAM.read_text())

    def elsewhere() -> None:
        deadline = time.monotonic() + 5
        while sum(map(len, out)) < printed and time.monotonic() < deadline:
            time.sleep(0.005)  # until the build has printed everything, and waits
        time.sleep(0.05)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # handled by this thread's C handler

    def watchdog() -> None:  # without the fix: end the stub, so that the test fails rather than waits 30 s
        if not stopped.wait(6):
            for pid in read_pids(stub / "pids"):
                os.kill(pid, signal.SIGKILL)

    stopped = threading.Event()
    threading.Thread(target=watchdog, daemon=True).start()
    thread = threading.Thread(target=elsewhere)
    t0 = time.monotonic()
    with pytest.raises(Interrupted) as info:
        with runner.interruptible():
            thread.start()
            runner.run(build(), out.append)
    stopped.set()
    thread.join()
    assert info.value.exit_code == 128 + signal.SIGTERM
    assert time.monotonic() - t0 < 5
    assert gone(read_pids(stub / "pids"))


# --- what the runner asks docker, answered by a stub ---------------------------------------
# The answers are this engine's own (dockerd 26.1.5+dfsg1, buildx 0.13.1, the default builder):
# `docker info --format '{{json .}}'` trimmed to the four fields stagecache reads, `docker
# buildx version`, `docker buildx inspect`, `docker buildx ls --format '{{json . }}'` (labels
# left out) and `docker context inspect --format '{{json .}}'` (trimmed).

ANSWERS = {
    "info.json": '{"ServerVersion": "26.1.5+dfsg1", "Driver": "overlayfs", "DockerRootDir": "/var/lib/docker", '
    '"DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}\n',
    "context.json": '{"Name":"default","Metadata":{},"Endpoints":{"docker":{"Host":"unix:///var/run/docker.sock",'
    '"SkipTLSVerify":false}}}\n',
    "inspect.txt": "Name:          default\nDriver:        docker\n\nNodes:\nName:             default\n",
    "ls.json": '{"Name":"default","Driver":"docker","Dynamic":false,"Nodes":[{"Name":"default","Endpoint":"default",'
    '"Status":"running","Version":"v0.0.0+unknown","Platforms":["linux/amd64"]}]}\n',
    "image.json": '[{"Id": "sha256:1111111111111111111111111111111111111111111111111111111111111111"}]\n',
    "tags.txt": "registry.example/app:base\nregistry.example/app:<none>\nregistry.example/app:a\n",
}
ENGINE_STUB = """\
#!/bin/sh
echo "$*" >> "$STUB_DIR/calls"
case "$STUB_MODE:$*" in
  down:*)
    echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
    exit 1 ;;
  no-buildx:"buildx version") echo "docker: 'buildx' is not a docker command." >&2; exit 1 ;;
  *:"system info --format {{json .}}") cat "$STUB_DIR/info.json" ;;
  *:"context inspect --format {{json .}}") cat "$STUB_DIR/context.json" ;;
  *:"--context other "*) echo "stub docker: the other engine: $*" >&2; exit 98 ;;
  *:"buildx version") echo "github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3" ;;
  *:"buildx inspect nope") echo "ERROR: no builder \\"nope\\" found" >&2; exit 1 ;;
  *:"buildx inspect"*) cat "$STUB_DIR/inspect.txt" ;;
  *:"buildx ls --format {{json . }}") cat "$STUB_DIR/ls.json" ;;
  *:"image inspect present:1") cat "$STUB_DIR/image.json" ;;
  *:"image inspect "*) echo "Error response from daemon: No such image: $3" >&2; exit 1 ;;
  *:"image ls --format "*) cat "$STUB_DIR/tags.txt" ;;
  *:"image ls --quiet --no-trunc --filter dangling=true") printf 'sha256:old\\nsha256:new\\n' ;;
  *:"image rm"*|*:"buildx prune"*) ;;
  *:"buildx bake --file "*" --print") cat "$4" ;;
  old:"buildx build --progress=plain --file -"*)
    echo 'ERROR: failed to solve: failed to parse platform : "" is an invalid OS component' >&2; exit 1 ;;
  broken:"buildx build --progress=plain --file -"*) echo "ERROR: no space left on device" >&2; exit 1 ;;
  *:"buildx build --progress=plain --file -"*) cat > /dev/null ;;
  *) echo "stub docker: unexpected: $*" >&2; exit 99 ;;
esac
"""


@pytest.fixture
def engine_stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A stub docker that answers the runner's questions; returns a function that gives the
    commands it ran since the last call."""
    bindir = tmp_path / "engine-bin"
    bindir.mkdir()
    (bindir / "docker").write_text(ENGINE_STUB)
    (bindir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("STUB_DIR", str(tmp_path))
    monkeypatch.delenv("STUB_MODE", raising=False)
    for name, text in ANSWERS.items():
        (tmp_path / name).write_text(text)
    calls = tmp_path / "calls"

    def ran() -> list[str]:
        text = calls.read_text() if calls.exists() else ""
        calls.write_text("")
        return text.splitlines()

    return ran


def test_engine_and_builder_facts(engine_stub) -> None:
    runner = Runner()
    builder = runner.builder_info()
    assert builder == runner_module.BuilderInfo("default", "docker", True, "v0.0.0+unknown")
    assert builder.can_export_cache
    engine = runner.engine_info()
    assert engine == runner_module.EngineInfo(
        "26.1.5+dfsg1",
        "github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3",
        "overlayfs",
        True,
        "default",
        "unix:///var/run/docker.sock",
        "/var/lib/docker",
    )
    assert engine.named == "context 'default' (unix:///var/run/docker.sock)" and engine.store == "containerd"
    calls = engine_stub()
    assert set(calls) == {
        "buildx inspect",
        "buildx ls --format {{json . }}",
        "system info --format {{json .}}",
        "buildx version",
        "context inspect --format {{json .}}",
    }
    # The engine was asked once (python-on-whales may inspect the builder again: its objects
    # refresh themselves when their data is older than a moment).
    assert calls.count("system info --format {{json .}}") == calls.count("buildx version") == 1
    assert runner.docker_cmd[-1].endswith("docker") and runner.docker_seconds > 0


def test_a_context_reaches_every_docker_command(engine_stub) -> None:
    # The stub answers any command given --context other with an error that names the engine.
    other = Runner().with_context("other")
    assert other.docker_cmd[1:] == ["--context", "other"] and Runner().with_context("").context == ""
    with pytest.raises(EnvironmentProblem, match="the other engine: --context other system info"):
        other.engine_info()
    assert Runner().image_exists("present:1")
    with pytest.raises(EnvironmentProblem, match="the other engine: --context other image inspect present:1"):
        other.image_exists("present:1")
    said: list[str] = []
    assert other.run(Command(("docker", "buildx", "build", "--target", "a", ".")), said.append) == 98
    assert "the other engine: --context other buildx build --target a ." in "".join(said)
    calls = engine_stub()
    assert calls[-2:] == ["--context other image inspect present:1", "--context other buildx build --target a ."]
    calls.remove("image inspect present:1")
    assert calls and all(c.startswith("--context other ") for c in calls)


@pytest.mark.parametrize(
    ("mode", "builder", "message"),
    [
        ("down", "", "the Docker daemon is not reachable (Cannot connect to the Docker daemon at "
         "unix:///var/run/docker.sock. Is the docker daemon running?). Start Docker"),
        ("no-buildx", "", "docker buildx is not installed. Install the buildx plugin"),
        ("", "nope", "buildx builder 'nope' cannot be used: ERROR: no builder \"nope\" found. List builders"),
    ],
)  # fmt: skip
def test_an_engine_that_cannot_build_is_an_environment_problem(engine_stub, monkeypatch, mode, builder, message):
    monkeypatch.setenv("STUB_MODE", mode)
    with pytest.raises(EnvironmentProblem) as info:
        Runner().builder_info(builder)
    assert str(info.value).startswith(message) and info.value.exit_code == 3


def test_images_are_listed_and_removed_by_their_tags(engine_stub) -> None:
    runner = Runner()
    assert runner.image_exists("present:1") and not runner.image_exists("absent:1")
    assert runner.local_tags("registry.example/app") == ["registry.example/app:base", "registry.example/app:a"]
    assert runner.dangling_images() == {"sha256:old", "sha256:new"}
    engine_stub()
    runner.remove_untagged({"sha256:old"})  # only what became untagged since
    assert engine_stub() == ["image ls --quiet --no-trunc --filter dangling=true", "image rm sha256:new"]
    runner.simulate_fresh_runner(["registry.example/app"], builder="ci")
    assert sorted(engine_stub()) == [
        "buildx prune --all --force --builder ci",
        "image ls --format {{.Repository}}:{{.Tag}} registry.example/app",
        "image rm --force registry.example/app:a",
        "image rm --force registry.example/app:base",
    ]


def test_a_daemon_that_is_down_is_an_error_not_an_answer(engine_stub, monkeypatch) -> None:
    monkeypatch.setenv("STUB_MODE", "down")
    runner = Runner()
    for ask in (lambda: runner.image_exists("present:1"), lambda: runner.pull("registry.example/app:a")):
        with pytest.raises(EnvironmentProblem) as info:
            ask()
        assert "the Docker daemon is not reachable" in str(info.value)


def test_bake_print_reads_back_the_definition(engine_stub, tmp_path: Path) -> None:
    definition = tmp_path / "bake.json"
    definition.write_text('{"target": {"app": {"network": "none"}}}')
    assert Runner().bake_print(str(definition)) == {"target": {"app": {"network": "none"}}}


@pytest.mark.parametrize(("mode", "current"), [("", True), ("old", False)])
def test_the_frontend_probe_is_asked_once(engine_stub, monkeypatch, mode: str, current: bool) -> None:
    monkeypatch.setenv("STUB_MODE", mode)
    runner = Runner()
    assert runner.builtin_frontend_is_current() is current
    assert runner.builtin_frontend_is_current() is current
    probes = [c for c in engine_stub() if c.startswith("buildx build --progress=plain --file - ")]
    assert len(probes) == 1


def test_a_probe_that_fails_otherwise_says_how_to_choose_the_frontend(engine_stub, monkeypatch) -> None:
    monkeypatch.setenv("STUB_MODE", "broken")
    with pytest.raises(EnvironmentProblem) as info:
        Runner().builtin_frontend_is_current("ci")
    assert "no space left on device" in str(info.value)
    assert str(info.value).endswith(
        "Add '# syntax=docker/dockerfile:1' as the first line of the Dockerfile to choose the frontend yourself."
    )
