"""What a failed build means, read from what the builder said: the error that names the
stage, the step and BuildKit's own words, with the exit code of its cause.

- a step that failed, or an image BuildKit could not pull (a base image, or a ``COPY --from``
  that names no stage and so is pulled): exit 1, a build error;
- a push, a cache export or a registry's refusal to authenticate (a pull's too): exit 5;
- writing the result on this machine (a local cache export, the image into the engine): exit 3;
- the legacy builder on the containerd image store, which cannot reuse a cached empty layer
  (a moby bug, seen on dockerd 26.1.5): exit 3, with the fix;
- a ``--load`` that lost, every time it was tried (see stagecache.transient), the race with
  other builds loading the same tag: exit 1, saying so;
- a RUN step on an engine that has no default bridge network (dockerd ``--bridge=none``):
  exit 3, with the fix.
"""

from __future__ import annotations

import re

from stagecache import transient
from stagecache.errors import BuildFailed, EnvironmentProblem, RegistryError, StagecacheError
from stagecache.plan import StageBuild
from stagecache.progress import BuildProgress, LegacyProgress
from stagecache.report import StageResult

_REGISTRY_FAILURES = (
    "failed to push",
    "error writing layer blob",
    "error writing manifest blob",
    "unauthorized",
    "authentication required",
    "no basic auth credentials",
    "denied:",
)
_EXPORTING = ("exporting cache", "exporting to ", "pushing", "writing cache", "preparing build cache")
_LEGACY_EMPTY_LAYER = "failed to read diff archive"
_DID_YOU_MEAN_RE = re.compile(r"\(did you mean (?P<name>[^?)]+)\?\)")


def build_failure(
    build: StageBuild, progress: BuildProgress | LegacyProgress, rc: int, result: StageResult
) -> StagecacheError:
    """The error for ``build``, which exited ``rc``."""
    lines = progress.error_lines()
    step = progress.failed_step()
    # The failed step's own stage: a build of several stages (the fast path's first build, scope
    # "final", an unnamed stage built inside another) names the one that broke.
    stage = step.stage if step is not None and step.stage in build.reports else build.stage
    where = f"stage '{stage}'"
    if step is not None:
        where += f", step {step.number} ({' '.join(step.instruction.split())[:100]})"
    detail = "\n".join(f"  {ln}" for ln in lines[-8:]) or "  (no error text from the builder)"
    text = "\n".join(lines).lower()
    if _LEGACY_EMPTY_LAYER in text and "failed to restore cached image" in text:
        return EnvironmentProblem(
            f"{where} failed (builder exit {rc}): the legacy builder on this engine's containerd image store cannot "
            "reuse a cached step whose layer is empty (such as WORKDIR of a folder that exists): a bug of the "
            "engine, which plain `DOCKER_BUILDKIT=0 docker build --cache-from` has too. Use a BuildKit cache mode "
            f"(registry, inline, local), or cache mode 'classic' on an engine with the overlay2 image store.\n{detail}"
        )
    if transient.LOAD_RACE.search(text):
        tries = result.retries + 1
        lost = f"every one of {tries} tries" if tries > 1 else "the race"
        return BuildFailed(
            f"{where} failed (builder exit {rc}): other builds on this engine were loading the same image tag at "
            f"the same moment, and this one lost {lost}. Give concurrent jobs their own tags ([cache].tag with "
            "{branch}, or a per-job image), or run them one after another.\n" + detail
        )
    if "network bridge not found" in text:
        return EnvironmentProblem(
            f"{where} failed (builder exit {rc}): this engine has no default bridge network (dockerd runs with "
            "--bridge=none), so a RUN step cannot get the network it asks for by default. Pass --network none "
            "(RUN steps that need no network) or --network host, or set [project].network in stagecache.toml, or "
            f"give dockerd a bridge network.\n{detail}"
        )
    if isinstance(progress, BuildProgress) and step is None:
        pulls = progress.pull_failures()
        if pulls:
            return _pull_failure(where, rc, pulls[0], "\n".join(lines), detail)
        exported = [v for v in progress.vertices.values() if v.error and v.name.startswith(_EXPORTING)]
        remote = any(marker in text for marker in _REGISTRY_FAILURES) or any(
            "registry" in v.name or v.name.startswith("pushing") for v in exported
        )
        if remote:
            refs = ", ".join(build.tags if build.push else ()) or ", ".join(result.cache_to)
            return RegistryError(
                f"{where}: the build ran but a registry operation failed ({refs}), exit {rc}:\n{detail}"
            )
        if exported:  # writing to this machine failed: a local cache export, the image into the engine
            return EnvironmentProblem(
                f"{where}: the build ran but writing its result on this machine failed ({exported[0].name}), "
                f"exit {rc}. Check the free space of the engine's data root and of the local cache folder.\n{detail}"
            )
    logs = ""
    if step is not None and step.logs:
        logs = "\nlast output of the step:\n" + "\n".join(f"  | {ln}" for ln in list(step.logs)[-10:])
    return BuildFailed(f"{where} failed (builder exit {rc}):\n{detail}{logs}")


def _pull_failure(where: str, rc: int, pull: tuple[str, str], said: str, detail: str) -> StagecacheError:
    """An image that could not be pulled: its name, BuildKit's reason, and what to do."""
    image, error = pull
    low = error.lower()
    m = _DID_YOU_MEAN_RE.search(said)
    if m:
        fix = (
            f"BuildKit pulls any --from or FROM that names no stage: did you mean stage '{m.group('name')}'? "
            "Fix the name in the Dockerfile."
        )
    elif "not found" in low or "manifest unknown" in low:
        fix = "The registry has no such image or tag: fix the name or tag, or push the image there first."
    elif "no such host" in low or "connection refused" in low or "i/o timeout" in low or "dial tcp" in low:
        fix = (
            "The builder cannot reach that registry: check the network, or put the image on the engine first "
            "(docker pull, docker load or docker import)."
        )
    elif "denied" in low or "unauthorized" in low or "authentication" in low:
        return RegistryError(
            f"{where}: the registry refused to let the builder pull {image} (builder exit {rc}). docker login to "
            f"it with an account that may pull the image.\n{detail}"
        )
    else:
        fix = "Check the name, and that the builder can pull it."
    return BuildFailed(f"{where}: the image {image} could not be pulled (builder exit {rc}). {fix}\n{detail}")
