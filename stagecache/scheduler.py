"""Per-stage builds: each stage starts as soon as every stage it needs is built, up to
``jobs`` at a time (the two sides of a diamond build in parallel).

After a failure no new stage starts; the running ones finish (``on_failure = "finish"``, their
caches are kept) or are stopped (``"cancel"``). An interruption stops them all. Either way the
runner refuses to start another build (its cancellation is sticky), so a stage that was about
to start, or was still preparing its local cache, never builds.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from stagecache.errors import Cancelled, Interrupted, StagecacheError
from stagecache.execution import Execution
from stagecache.plan import StageBuild
from stagecache.report import StageResult
from stagecache.runner import WAKE_UP
from stagecache.stagebuild import StageOutcome, build_stage, detail


def schedule(run: Execution) -> None:
    """Build every stage of ``run.plan``; sets ``run.error`` to the first failure."""
    plan, runner, display = run.plan, run.runner, run.display
    jobs = min(plan.config.effective_jobs, len(plan.builds)) or 1
    builds = {b.stage: b for b in plan.builds}
    needs = {b.stage: {u for u in b.upstream if u in builds} for b in plan.builds}
    pending = list(plan.builds)
    counter = iter(range(1, len(plan.builds) + 1))
    done_ok: set[str] = set()
    running: dict[Future[StageOutcome], tuple[StageBuild, float]] = {}

    def record(build: StageBuild, outcome: StageOutcome, offset: float) -> None:
        run.finish(outcome.rows, offset)
        error = outcome.error
        if error is None:
            done_ok.add(build.stage)
        elif not isinstance(error, Cancelled):  # a stage stopped because another failed is no failure
            if run.error is None and not isinstance(error, Interrupted) and plan.config.on_failure == "cancel":
                runner.cancel()
            run.fail(error)

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="stagecache-build") as pool:
        while True:
            if run.error is None and not runner.cancelled:
                for build in [b for b in pending if needs[b.stage] <= done_ok][: jobs - len(running)]:
                    pending.remove(build)
                    display.stage_started(build.stage, next(counter), len(plan.builds), detail(plan, build))
                    offset = time.monotonic() - run.started
                    running[pool.submit(build_stage, plan, build, runner, display)] = (build, offset)
            if not running:
                break
            # With a timeout: a signal that another thread took runs its handler (Runner.cancel)
            # only when this, the main thread, runs Python code again.
            finished, _ = wait(running, timeout=WAKE_UP, return_when=FIRST_COMPLETED)
            for future in finished:
                build, offset = running.pop(future)
                try:
                    outcome = future.result()
                except StagecacheError as exc:  # raised, not returned (docker could not start, a cache swap):
                    # still this stage's failure, so that the other builds are stopped or reported
                    outcome = StageOutcome((StageResult(build.stage, "failed", tags=build.tags),), exc)
                record(build, outcome, offset)
