"""Progress display while a bake runs: a live status line on a terminal, one
plain line per event otherwise (CI logs), BuildKit's own log with --verbose."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from stagecache.progress import Event

_CLEAR = "\r\x1b[K"


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class PlainDisplay:
    """One line per event; nothing is rewritten. For CI logs and pipes."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self._stage = ""

    def _print(self, text: str) -> None:
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
                self._print(f"    {e.text}")
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


class LiveDisplay(PlainDisplay):
    """On a terminal: finished stages as lines, plus one status line rewritten in place
    (current stage, step, elapsed), refreshed by a small timer thread."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False) -> None:
        super().__init__(stream, verbose)
        self._status = ""
        self._started = time.monotonic()
        self._step_text = ""
        self._header = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self._render()

    def _render(self) -> None:
        with self._lock:
            if not self._header:
                return
            elapsed = time.monotonic() - self._started
            line = f"{self._header}  {self._step_text}  {elapsed:5.1f}s"
            self.stream.write(_CLEAR + _short(line, 118))
            self.stream.flush()

    def _print(self, text: str) -> None:
        with self._lock:
            self.stream.write(_CLEAR + text + "\n")
            self.stream.flush()

    def stage_started(self, stage: str, index: int, count: int, detail: str) -> None:  # noqa: D102
        super().stage_started(stage, index, count, detail)
        with self._lock:
            self._header = f"[{index}/{count}] {stage}"
            self._step_text = "starting"
            self._started = time.monotonic()
        self._render()

    def event(self, e: Event) -> None:  # noqa: D102
        if e.step is not None and not e.step.is_pull and e.kind in ("start", "done", "cached"):
            with self._lock:
                self._step_text = f"step {e.step.number}/{e.step.total or '?'} {e.step.instruction}"
            if e.kind == "start":
                self._render()
                if not self.verbose:
                    return
        super().event(e)

    def close(self) -> None:  # noqa: D102
        self._stop.set()
        self._thread.join(timeout=1)
        with self._lock:
            self._header = ""
            self.stream.write(_CLEAR)
            self.stream.flush()
