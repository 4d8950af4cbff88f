"""Progress display while a bake runs: a live status line on a terminal, one
plain line per event otherwise (CI logs), BuildKit's own log with --verbose."""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol, TextIO

from stagecache.progress import Event

_CLEAR = "\r\x1b[K"


class Output(Protocol):
    """What a display writes to."""

    def write(self, text: str) -> object: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...


class _Gone:
    """The output stream, which may go away while a bake runs: a closed terminal (SIGHUP)
    makes every write fail with EIO, a closed pipe with EPIPE. The bake must still end, stop
    its builds and write its report, so from the first failed write on, output is dropped."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._dead = False

    def write(self, text: str) -> None:
        if not self._dead:
            try:
                self._stream.write(text)
            except (OSError, ValueError):  # ValueError: the stream was closed
                self._dead = True

    def flush(self) -> None:
        if not self._dead:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._dead = True

    def isatty(self) -> bool:
        return not self._dead and self._stream.isatty()


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class PlainDisplay:
    """One line per event; nothing is rewritten. For CI logs and pipes."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False) -> None:
        self.stream: Output = _Gone(stream or sys.stderr)
        self.verbose = verbose
        self._stage = ""
        self._print_lock = threading.Lock()  # stages building in parallel print from several threads

    def _print(self, text: str) -> None:
        with self._print_lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def stage_started(self, stage: str, index: int, count: int, detail: str) -> None:
        """A stage's build begins."""
        self._stage = stage
        self._print(f"==> [{index}/{count}] {stage} ({detail})")

    def event(self, e: Event) -> None:
        """A step started/finished, a log line, or a message from buildx."""
        if e.kind == "message":
            if self.verbose or e.text.startswith(("ERROR", "WARNING")):
                # buildx's "WARNING: x" as stagecache says its own warnings.
                text = "warning: " + e.text[len("WARNING: ") :] if e.text.startswith("WARNING: ") else e.text
                self._print(f"    {text}")
            return
        if e.kind == "log":
            if self.verbose:
                self._print(f"    | {e.text}")
            return
        step = e.step
        if step is None or step.is_pull:
            return
        label = f"[{step.stage or self._stage} {step.number}/{step.total or '?'}] {_short(step.instruction, 70)}"
        if e.kind == "cached":
            self._print(f"    {label}  CACHED")
        elif e.kind == "done":
            self._print(f"    {label}  DONE {step.seconds:.1f}s")
        elif e.kind == "error":
            self._print(f"    {label}  ERROR")
        elif e.kind == "start" and self.verbose:
            self._print(f"    {label}  ...")

    def stage_finished(self, stage: str, steps: int, cached: int, seconds: float, status: str) -> None:
        """A stage's build ended."""
        self._print(f"    {stage}: {status}, {cached}/{steps} steps cached, {seconds:.1f}s")

    def message(self, text: str) -> None:
        """A warning or note from stagecache itself."""
        self._print(text)

    def close(self) -> None:
        """The bake is over."""


class StatusLine:
    """Status lines rewritten in place at the bottom of a terminal (one per key: e.g. one
    per stage building), each with its elapsed seconds, refreshed by a small timer thread;
    ``print`` writes a permanent line above them."""

    def __init__(self, stream: Output) -> None:
        self.stream = stream
        self._lines: dict[str, tuple[str, float]] = {}
        self._shown = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self.render()

    def set(self, text: str, restart: bool = False, key: str = "") -> None:
        """Show ``text`` on the line ``key`` (and restart its clock)."""
        with self._lock:
            old = self._lines.get(key)
            started = time.monotonic() if restart or old is None else old[1]
            self._lines[key] = (text, started)
        self.render()

    def drop(self, key: str = "") -> None:
        """Remove the line ``key``."""
        with self._lock:
            self._lines.pop(key, None)
        self.render()

    def _clear(self) -> None:
        # Caller holds the lock. Move up over the lines drawn last time and clear to the end.
        self.stream.write("\r" + ("\x1b[1A" * max(0, self._shown - 1)) + "\x1b[J")
        self._shown = 0

    def _draw(self) -> None:
        now = time.monotonic()
        rows = [_short(f"{text}  {now - t0:5.1f}s", 118) for text, t0 in self._lines.values()]
        self.stream.write("\n".join(rows))
        self._shown = len(rows)

    def render(self) -> None:
        """Redraw the lines."""
        with self._lock:
            self._clear()
            self._draw()
            self.stream.flush()

    def print(self, text: str) -> None:
        """A permanent line above the status lines."""
        with self._lock:
            self._clear()
            self.stream.write(text + "\n")
            self._draw()
            self.stream.flush()

    def close(self) -> None:
        """Stop the timer and clear the lines."""
        self._stop.set()
        self._thread.join(timeout=1)
        with self._lock:
            self._lines.clear()
            self._clear()
            self.stream.flush()


class LiveDisplay(PlainDisplay):
    """On a terminal: finished stages as lines, plus one status line per stage building
    (stage, step, elapsed), rewritten in place."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False) -> None:
        super().__init__(stream, verbose)
        self._line = StatusLine(self.stream)
        self._headers: dict[str, str] = {}

    def _print(self, text: str) -> None:
        self._line.print(text)

    def stage_started(self, stage: str, index: int, count: int, detail: str) -> None:  # noqa: D102
        super().stage_started(stage, index, count, detail)
        self._headers[stage] = f"[{index}/{count}] {stage}"
        self._line.set(f"{self._headers[stage]}  starting", restart=True, key=stage)

    def event(self, e: Event) -> None:  # noqa: D102
        step = e.step
        if step is not None and not step.is_pull and e.kind in ("start", "done", "cached"):
            key = step.stage if step.stage in self._headers else next(iter(self._headers), "")
            header = self._headers.get(key, key)
            self._line.set(f"{header}  step {step.number}/{step.total or '?'} {step.instruction}", key=key)
            if e.kind == "start" and not self.verbose:
                return
        super().event(e)

    def stage_finished(self, stage: str, steps: int, cached: int, seconds: float, status: str) -> None:  # noqa: D102
        self._headers.pop(stage, None)
        self._line.drop(stage)
        super().stage_finished(stage, steps, cached, seconds, status)

    def close(self) -> None:  # noqa: D102
        self._line.close()


class PlainBenchDisplay:
    """Bench progress for logs: a line per bake and one per stage it built."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream: Output = _Gone(stream or sys.stderr)
        self._prefix = ""

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def run_started(self, position: int, total: int, strategy: str, scenario: str, index: int, repeat: int) -> None:
        """A bake begins."""
        run = f", run {index} of {repeat}" if repeat > 1 and scenario != "populate" else ""
        self._prefix = f"[{position}/{total}] {strategy} / {scenario}{run}"
        self._print(f"==> {self._prefix}")

    def run_finished(self, run) -> None:
        """A bake ended (``run`` is a stagecache.bench.Run)."""
        ratio = "-" if run.hit_ratio is None else f"{run.hit_ratio * 100:.0f}%"
        extra = f": {run.error.splitlines()[0]}" if run.error else ""
        self._print(f"    {run.status}, {run.cached}/{run.steps} steps cached ({ratio}), {run.seconds:.1f}s{extra}")

    def stage_started(self, stage: str, index: int, count: int, detail: str) -> None:  # noqa: D102
        pass

    def event(self, e: Event) -> None:  # noqa: D102
        pass

    def stage_finished(self, stage: str, steps: int, cached: int, seconds: float, status: str) -> None:  # noqa: D102
        self._print(f"    {stage}: {status}, {cached}/{steps} cached, {seconds:.1f}s")

    def message(self, text: str) -> None:  # noqa: D102
        # Plan warnings repeat on every bake of the matrix, and a first run has no images to pull.
        if not text.startswith(("warning:", "note: no cached image")):
            self._print(f"    {text}")

    def close(self) -> None:  # noqa: D102
        pass


class LiveBenchDisplay(PlainBenchDisplay):
    """Bench progress on a terminal: a line per finished bake, and a status line with
    strategy, scenario, run, stage and step."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._line = StatusLine(self.stream)

    def _print(self, text: str) -> None:
        self._line.print(text)

    def run_started(self, position: int, total: int, strategy: str, scenario: str, index: int, repeat: int) -> None:  # noqa: D102
        run = f" run {index}/{repeat}" if repeat > 1 and scenario != "populate" else ""
        self._prefix = f"[{position}/{total}] {strategy} · {scenario}{run}"
        self._line.set(self._prefix, restart=True)

    def run_finished(self, run) -> None:  # noqa: D102
        ratio = "-" if run.hit_ratio is None else f"{run.hit_ratio * 100:.0f}%"
        self._print(f"{self._prefix}: {run.status}, {ratio} cached, {run.seconds:.1f}s")

    def stage_started(self, stage: str, index: int, count: int, detail: str) -> None:  # noqa: D102
        self._line.set(f"{self._prefix} · {stage}")

    def event(self, e: Event) -> None:  # noqa: D102
        if e.step is not None and not e.step.is_pull and e.kind == "start":
            self._line.set(f"{self._prefix} · {e.step.stage} {e.step.number}/{e.step.total or '?'}")

    def stage_finished(self, stage: str, steps: int, cached: int, seconds: float, status: str) -> None:  # noqa: D102
        pass

    def close(self) -> None:  # noqa: D102
        self._line.close()
