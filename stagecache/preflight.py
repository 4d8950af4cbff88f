"""Checks before a bake builds anything, and the engine check that explains a failed build.

Each check raises a StagecacheError with the file, key or line and the fix: UsageError (exit 2)
for the project's own settings, EnvironmentProblem (exit 3) for the machine.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

from stagecache import dockerignore, localcache
from stagecache.errors import BuildFailed, EnvironmentProblem, RegistryError, StagecacheError, UsageError
from stagecache.plan import BuildPlan
from stagecache.runner import BuilderInfo, EngineInfo, Runner


def check_local_dir(plan: BuildPlan) -> None:
    """Refuse a local cache directory that is unsafe to create, replace or delete in.

    stagecache replaces folders inside it, so it must be a directory stagecache owns (see
    stagecache.localcache), never the project, the build context or a folder that holds them,
    and never sent to the builder as part of the context. Raises UsageError (exit 2) before
    anything is created."""
    cfg = plan.config
    if plan.mode.name != "local":
        return
    d = cfg.cache.local_dir
    key = (
        f"{cfg.source}: key 'cache.local_dir'"
        if cfg.cache.local_dir_origin == "config"
        else f"the default local cache folder (set [cache].local_dir to choose another; {cfg.source})"
    )
    own = "It must be a folder of its own, such as .stagecache/cache (stagecache creates and tags it)."
    home = Path.home().resolve()
    if d == Path(d.anchor) or d == home:
        raise UsageError(f"{key} is {d}; stagecache replaces folders inside it. {own}")
    for name, folder in (("project folder", cfg.root), ("build context", cfg.context)):
        if d == folder or d in folder.parents:
            raise UsageError(f"{key} is {d}, which holds the {name} {folder}; stagecache replaces folders in it. {own}")
    for p in (d, *d.parents):
        if p.is_symlink():
            raise UsageError(
                f"{key} ({d}) goes through the symlink {p}; use the real path so the cache cannot be redirected."
            )
    problem = localcache.problem(d)
    if problem:
        raise UsageError(f"{key}: {problem}, and stagecache replaces folders inside it. {own}")
    if cfg.context in d.parents and not dockerignore.excluded(cfg.context, d, cfg.dockerfile):
        rel = d.relative_to(cfg.context)
        top = rel.parts[0]
        ignore = dockerignore.ignore_file(cfg.context, cfg.dockerfile)
        raise UsageError(
            f"{cfg.source}: the local cache directory {d} is inside the build context {cfg.context} "
            f"and not excluded by its {ignore.name}, so every build would send the cache as context "
            f"(and `COPY . .` would change with it). Add the line '{top}/' to "
            f"{ignore}, or set cache.local_dir outside the context."
        )


def check_secrets(plan: BuildPlan, env: Mapping[str, str]) -> None:
    """Every configured secret must have a source now, or the build would fail halfway."""
    for secret in plan.config.secrets:
        if secret.env and secret.env not in env:
            raise UsageError(
                f"{plan.config.source}: key 'build.secrets.{secret.id}': environment variable "
                f"{secret.env} is not set. Export it before running stagecache."
            )
        if secret.file and not secret.file.is_file():
            raise UsageError(
                f"{plan.config.source}: key 'build.secrets.{secret.id}': file {secret.file} does not exist."
            )


def check_builder(plan: BuildPlan, runner: Runner) -> dict[str, str]:
    """Make sure the engine and builder can do what the plan asks; return version facts."""
    # builder_info asks for the engine's info side by side with its inspect; asking
    # engine_info first would make the two run one after the other.
    builder = None if plan.mode.legacy_builder else runner.builder_info(plan.config.builder)
    engine = runner.engine_info()
    facts = {
        "docker": engine.server_version,
        "buildx": engine.buildx_version,
        "containerd_store": str(engine.containerd_store).lower(),
        "context": engine.context,
        "endpoint": engine.endpoint,
        "root_dir": engine.root_dir,
    }
    if builder is None:
        return facts
    problem = other_context_builder(plan.config.builder, builder, engine)
    if problem:
        raise UsageError(f"{plan.config.source}: {problem}")
    facts["builder"] = builder.name
    facts["driver"] = builder.driver
    if builder.buildkit_version and "unknown" not in builder.buildkit_version:  # Debian's: v0.0.0+unknown
        facts["buildkit"] = builder.buildkit_version
    if plan.mode.exports_cache and not builder.can_export_cache:
        raise EnvironmentProblem(
            f"cache mode '{plan.mode.name}' needs a builder that can export cache, but builder "
            f"'{builder.name}' uses the docker driver without the containerd image store. Fix it one of "
            "two ways: turn on the containerd image store (daemon.json: "
            '{"features": {"containerd-snapshotter": true}}, then restart dockerd), or create a '
            "docker-container builder (docker buildx create --name stagecache --driver docker-container) "
            "and set [project].builder = \"stagecache\". Cache mode 'inline' works on this builder as it is."
        )
    return facts


def other_context_builder(name: str, builder: BuilderInfo, engine: EngineInfo) -> str:
    """Why ``[project].builder = name`` cannot be used, when it names the docker-driver builder
    of another docker context (buildx lists it, and refuses to build on it with "use `docker
    --context=NAME buildx` to switch to context"); "" otherwise."""
    if not name or builder.driver != "docker" or name == (engine.context or "default"):
        return ""
    return (
        f"key 'project.builder': '{name}' is the docker driver builder of docker context '{name}', which buildx "
        f'builds on only from that context. Set [project].docker_context = "{name}" (or pass --context {name}) '
        "and leave [project].builder empty."
    )


class EngineFacts:
    """:func:`check_builder`'s version facts, fetched in a thread alongside the builds."""

    def __init__(self, plan: BuildPlan, runner: Runner) -> None:
        self._facts: dict[str, str] = {}
        self.problem = ""
        """Why the facts could not be read (for the report's warnings), else empty."""

        def fetch() -> None:
            try:
                self._facts = check_builder(plan, runner)
            except StagecacheError as exc:  # a failed build explains itself; a good one says this
                self.problem = f"could not read the engine's versions for the report: {exc.message}"
            except Exception as exc:  # noqa: BLE001 - never a traceback from this thread
                self.problem = f"could not read the engine's versions for the report ({type(exc).__name__}: {exc})"

        self._thread = threading.Thread(target=fetch, name="stagecache-facts", daemon=True)
        self._thread.start()

    def get(self) -> dict[str, str]:
        """Wait for the facts; {} when the engine could not be asked (see ``problem``)."""
        self._thread.join()
        return self._facts


def explain_failure(error: StagecacheError, plan: BuildPlan, runner: Runner) -> StagecacheError:
    """The error to report for a failed build: the engine check's own (exit 3) when the
    engine or builder is the cause, else ``error``.

    bake does not check the engine before building: that check costs about 0.6 s
    (python-on-whales' import and three docker calls), a third of a fully cached bake,
    and everything it looks at (daemon up, buildx present, builder usable, cache export
    supported) makes the first build fail before it builds or exports anything. So it
    runs here, only after a failure, to name the cause and the fix.
    """
    if not isinstance(error, (BuildFailed, RegistryError)):
        return error
    try:
        check_builder(plan, runner)
    except EnvironmentProblem as problem:
        return problem
    return error
