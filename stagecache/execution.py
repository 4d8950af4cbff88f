"""What the two ways of executing a plan (per-stage builds, one bake session) share: the
plan, the runner, the display, and what has been done so far."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from stagecache.errors import StagecacheError
from stagecache.plan import BuildPlan
from stagecache.report import StageResult
from stagecache.runner import Runner

if TYPE_CHECKING:  # pragma: no cover
    from stagecache.bake import Display


@dataclass
class Execution:
    """One execution of a plan. ``rows`` collect every finished stage, in the order they
    finished; ``error`` is the first failure (or the interruption), which stops the rest."""

    plan: BuildPlan
    runner: Runner
    display: Display
    started: float
    rows: list[StageResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What the builder said of the whole run rather than of one stage (the report's warnings)."""
    error: StagecacheError | None = None

    def finish(self, rows: Iterable[StageResult], offset: float) -> None:
        """Record finished rows, with when their build started and ended (seconds from the
        start of the bake), and show them."""
        now = round(time.monotonic() - self.started, 3)
        for r in rows:
            r = replace(r, started_at=round(offset, 3), finished_at=now)
            self.rows.append(r)
            self.display.stage_finished(r.stage, len(r.steps), r.cached, r.seconds, r.status)

    def fail(self, error: StagecacheError) -> None:
        """Keep the first error: it is the one the bake ends with."""
        if self.error is None:
            self.error = error
