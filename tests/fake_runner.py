"""A scripted Runner for unit tests of the scheduler and the bake session: no engine, no process.

``ScriptedRunner.run`` plays back a BuildKit stream RECORDED on this engine (tests/data/rawjson,
see its README.md and MANIFEST.json) in chunks, with a per-chunk delay and an exit code chosen
per ``--target`` of the command (``docker push`` commands by their ref, a bake session by
``"bake"``), and records when each build started and ended. It keeps the real Runner's
contract by subclassing it: ``cancel``, ``reset`` and ``cancelled`` are Runner's own, and
``run`` refuses to start after ``cancel()`` and raises ``Cancelled`` / ``Interrupted`` exactly
as ``Runner.run`` does. ``push`` is Runner's own too, so a scripted push goes through the real
error handling.

Streams are never written by hand: they are recordings, replayed as they are, or with their
stage names changed programmatically (:func:`renamed`).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from stagecache import config as cfg
from stagecache.errors import Cancelled, Interrupted
from stagecache.plan import BuildPlan, Command, make_plan
from stagecache.progress import Event
from stagecache.runner import BuilderInfo, EngineInfo, Runner, _timed

DATA = Path(__file__).resolve().parent / "data"
RAW = DATA / "rawjson"

_FAKE_PID_BASE = 1 << 30
"""Fake builds get process ids above any Linux pid_max (at most 2**22), so the real
``Runner.cancel``'s ``os.killpg`` on them finds no process (ESRCH), and can never hit one."""


def recording(name: str) -> str:
    """A recorded stream: ``tests/data/rawjson/<name>`` or ``tests/data/<name>``."""
    path = RAW / name if (RAW / name).is_file() else DATA / name
    return path.read_text(encoding="utf-8")


def split_stream(text: str) -> tuple[list[dict], str]:
    """A rawjson stream as its JSON objects and the plain text buildx prints after them."""
    decoder = json.JSONDecoder()
    objects, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text) or text[i] != "{":
            return objects, text[i:]
        obj, i = decoder.raw_decode(text, i)
        objects.append(obj)


def renamed(text: str, stages: Mapping[str, str]) -> str:
    """The recorded stream ``text`` with its stage names changed (``{"build": "a"}``: the
    vertex ``[build  5/12] RUN ...`` becomes ``[a  5/12] RUN ...``). Only vertex names change;
    the objects are written back as JSON (2-space indent, as buildx does) and the plain-text
    tail is kept as it is."""
    objects, tail = split_stream(text)
    for obj in objects:
        for vertex in obj.get("vertexes") or []:
            for old, new in stages.items():
                pattern = r"^\[((?:\S+ )?)" + re.escape(old) + r"(\s+\d+/\d+\])"
                vertex["name"] = re.sub(pattern, lambda m, new=new: f"[{m.group(1)}{new}{m.group(2)}", vertex["name"])
    return "".join(json.dumps(obj, indent=2) + "\n" for obj in objects) + tail


@dataclass(frozen=True)
class Script:
    """What one scripted docker command does."""

    stream: str = ""
    """What it prints (merged stdout and stderr), e.g. :func:`recording`."""
    exit_code: int = 0
    seconds: float = 0.0
    """How long the playback takes, spread evenly before each chunk."""
    chunks: int = 6
    on_chunk: Callable[[ScriptedRunner, int], None] | None = None
    """Called after chunk ``i`` was passed on (while the build runs)."""
    after: Callable[[ScriptedRunner], None] | None = None
    """Called once the "process" exited, before ``run`` returns: no build is running then,
    and what the caller does next (a local-cache swap, the next build) has not started."""

    def pieces(self) -> list[str]:
        """The stream cut into ``chunks`` pieces of about equal length (across JSON objects
        and lines, as a pipe delivers them)."""
        if not self.stream:
            return [""] * self.chunks
        size = -(-len(self.stream) // self.chunks)
        return [self.stream[i : i + size] for i in range(0, len(self.stream), size)]


@dataclass
class Call:
    """One command the runner started."""

    key: str
    argv: tuple[str, ...]
    started: float
    ended: float | None = None
    outcome: str = "running"
    """``exit N``, ``cancelled``, ``interrupted``, or ``raised`` (an exception from a hook)."""


@dataclass
class _FakeProcess:
    pid: int


class ScriptedRunner(Runner):
    """A Runner whose builds and pushes are scripts (see the module docstring).

    ``builds`` maps a ``--target`` (``""``: no target) to its script, ``pushes`` a pushed ref
    to its script (default: a push that succeeds), ``bake`` is the script of a bake session.
    ``keeps_network``: whether ``bake --print`` keeps a target's ``network`` (older buildx drops it).
    """

    def __init__(
        self,
        builds: Mapping[str, Script] | None = None,
        pushes: Mapping[str, Script] | None = None,
        bake: Script | None = None,
        keeps_network: bool = True,
        local_images: tuple[str, ...] = (),
    ) -> None:
        super().__init__(env={})
        self.builds = dict(builds or {})
        self.pushes = dict(pushes or {})
        self.bake = bake
        self.keeps_network = keeps_network
        self.local_images = local_images
        """Tags the engine has (an engine that built the project before: see fastpath.applies)."""
        self.calls: list[Call] = []
        """Every command started, in the order they started."""
        self.refused: list[str] = []
        """Commands that ``run`` refused to start because the runner was cancelled."""
        self._pids = itertools.count(_FAKE_PID_BASE)
        self._wake = threading.Condition()

    # The inspection a failed build triggers (preflight.explain_failure): a healthy engine.
    def engine_info(self) -> EngineInfo:  # noqa: D102
        return EngineInfo("26.1.5+dfsg1", "0.13.1", "overlayfs", containerd_store=True)

    def builder_info(self, builder: str = "") -> BuilderInfo:  # noqa: D102
        return BuilderInfo(builder or "default", "docker", containerd_store=True)

    def bake_print(self, definition: str) -> dict:
        """The definition as ``bake --print`` shows it: without ``network`` unless ``keeps_network``."""
        printed = json.loads(Path(definition).read_text(encoding="utf-8"))
        if not self.keeps_network:
            for target in printed.get("target", {}).values():
                target.pop("network", None)
        return printed

    def local_tags(self, repository: str) -> list[str]:  # noqa: D102
        return [t for t in self.local_images if t.rsplit(":", 1)[0] == repository]

    @property
    def docker_cmd(self) -> list[str]:  # noqa: D102
        return ["docker"]

    def cancel(self, signum: int = 0) -> None:
        """Runner.cancel, then wake the playbacks so that they notice at once."""
        super().cancel(signum)
        with self._wake:
            self._wake.notify_all()

    @staticmethod
    def key(command: Command) -> str:
        """``push <ref>``, ``bake``, or the build's ``--target`` (``""`` when none)."""
        argv = command.argv
        if argv[1] == "push":
            return f"push {argv[-1]}"
        if argv[1:3] == ("buildx", "bake"):
            return "bake"
        return argv[argv.index("--target") + 1] if "--target" in argv else ""

    def script(self, key: str) -> Script:
        """The script of the command with this key."""
        if key.startswith("push "):
            return self.pushes.get(key[len("push ") :], Script())
        if key == "bake":
            assert self.bake is not None, "no bake session was scripted"
            return self.bake
        return self.builds[key]

    def call(self, key: str) -> Call:
        """The one call with this key (fails if there were none or several)."""
        found = [c for c in self.calls if c.key == key]
        assert len(found) == 1, (key, [c.key for c in self.calls])
        return found[0]

    @_timed
    def run(self, command: Command, on_output: Callable[[str], None]) -> int:
        """Play back the command's script, as Runner.run runs its process (see the module docstring)."""
        key = self.key(command)
        script = self.script(key)
        with self._lock:  # Runner.run's check, under Runner's lock: cancellation is sticky
            if self._stop is not None:
                self.refused.append(key)
                raise Interrupted(self._stop) if self._stop else Cancelled()
            proc = _FakeProcess(next(self._pids))
            self._running[proc.pid] = proc  # type: ignore[assignment]  # what Runner.cancel stops
            call = Call(key, command.argv, time.monotonic())
            self.calls.append(call)
        pieces = script.pieces()
        delay = script.seconds / len(pieces)
        try:
            for i, piece in enumerate(pieces):
                with self._wake:
                    if self._wake.wait_for(lambda: proc.pid in self._cancelled, timeout=delay):
                        break  # the process was stopped (Runner.cancel sent it SIGTERM)
                if piece:
                    on_output(piece)
                if script.on_chunk is not None:
                    script.on_chunk(self, i)
        except BaseException:
            call.outcome = "raised"
            raise
        finally:
            with self._lock:
                self._running.pop(proc.pid, None)
                cancelled = self._cancelled.pop(proc.pid, None)
            call.ended = time.monotonic()
        if cancelled is not None:
            call.outcome = "interrupted" if cancelled else "cancelled"
            raise Interrupted(cancelled) if cancelled else Cancelled()
        call.outcome = f"exit {script.exit_code}"
        if script.after is not None:
            script.after(self)
        return script.exit_code


class RecordingDisplay:
    """A display that remembers what bake told it."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int, int, str]] = []
        self.finished: list[tuple[str, str]] = []
        self.events: list[Event] = []
        self.messages: list[str] = []
        self.closed = False

    def stage_started(self, stage: str, index: int, count: int, detail: str) -> None:  # noqa: D102
        self.started.append((stage, index, count, detail))

    def event(self, e: Event) -> None:  # noqa: D102
        self.events.append(e)

    def stage_finished(self, stage: str, steps: int, cached: int, seconds: float, status: str) -> None:  # noqa: D102
        self.finished.append((stage, status))

    def message(self, text: str) -> None:  # noqa: D102
        self.messages.append(text)

    def close(self) -> None:  # noqa: D102
        self.closed = True


def plan_for(tmp_path: Path, dockerfile: str, toml: str = "") -> BuildPlan:
    """The plan of a project in ``tmp_path`` whose Dockerfile is the recorded scenario's
    (``tests/data/rawjson/<dockerfile>``), with ``[cache] mode = "none"`` unless ``toml`` sets one."""
    (tmp_path / "Dockerfile").write_text((RAW / dockerfile).read_text())
    if "[cache]" not in toml:
        toml = '[cache]\nmode = "none"\n' + toml
    (tmp_path / "stagecache.toml").write_text(toml)
    return make_plan(cfg.load(tmp_path / "stagecache.toml", env={}))
