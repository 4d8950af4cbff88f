"""What a failed build means, read from what the builder said: the error that names the
stage, the step and BuildKit's own words, with the exit code of its cause."""

from __future__ import annotations

from stagecache.errors import BuildFailed, RegistryError, StagecacheError
from stagecache.plan import StageBuild
from stagecache.progress import BuildProgress, LegacyProgress
from stagecache.report import StageResult

_REGISTRY_FAILURES = (
    "failed to push",
    "error writing layer blob",
    "error writing manifest blob",
    "failed to do request",
    "connection refused",
    "unauthorized",
    "authentication required",
    "no basic auth credentials",
    "denied:",
)


def build_failure(
    build: StageBuild, progress: BuildProgress | LegacyProgress, rc: int, result: StageResult
) -> StagecacheError:
    """The error for ``build``, which exited ``rc``: a step that failed (exit 1, with the step,
    BuildKit's error lines and the step's last output), or a registry operation (exit 5)."""
    lines = progress.error_lines()
    step = progress.failed_step()
    where = f"stage '{build.stage}'"
    if step is not None:
        where += f", step {step.number} ({' '.join(step.instruction.split())[:100]})"
    detail = "\n".join(f"  {ln}" for ln in lines[-8:]) or "  (no error text from the builder)"
    logs = ""
    if step is not None and step.logs:
        logs = "\nlast output of the step:\n" + "\n".join(f"  | {ln}" for ln in list(step.logs)[-10:])
    text = "\n".join(lines).lower()
    if step is None and any(marker in text for marker in _REGISTRY_FAILURES):
        refs = ", ".join(build.tags if build.push else ()) or ", ".join(result.cache_to)
        return RegistryError(f"{where}: the build ran but a registry operation failed ({refs}), exit {rc}:\n{detail}")
    return BuildFailed(f"{where} failed (builder exit {rc}):\n{detail}{logs}")
