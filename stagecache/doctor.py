"""``stagecache doctor``: can ``bake`` work here, and if not, what to fix.

Each check is pass / warn / fail with a one-line fix. Checks that depend on a
failed one are skipped (reported as such), so the first failure is the one to fix.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stagecache import config as configmod
from stagecache import reference
from stagecache.errors import StagecacheError
from stagecache.plan import BuildPlan, make_plan
from stagecache.preflight import check_local_dir, check_secrets, other_context_builder
from stagecache.registry import CredentialsError, RegistryClient, docker_credentials
from stagecache.runner import BuilderInfo, EngineInfo, Runner

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
_CHAIN = ("docker CLI", "daemon", "buildx", "builder", "build checks")
"""The checks that each need the one before: after a failure, the rest are skipped."""


@dataclass(frozen=True)
class Check:
    """One finding."""

    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass
class _State:
    plan: BuildPlan | None = None
    engine: EngineInfo | None = None
    builder: BuilderInfo | None = None


def run_checks(
    load: Callable[[], configmod.Config],
    runner: Runner,
    env: Mapping[str, str] | None = None,
) -> list[Check]:
    """Run every check. ``load`` reads the config (so a config error is a finding, not a crash)."""
    env = os.environ if env is None else env
    state = _State()
    checks: list[Check] = []

    try:
        config = load()
        state.plan = make_plan(config)
        plan = state.plan
        checks.append(
            Check("config", PASS, f"{config.source}: target '{plan.target}', {len(plan.builds)} stage build(s)")
        )
        mode = plan.mode
        checks.append(Check("cache mode", PASS, f"{mode.name}: {mode.summary}"))
    except StagecacheError as exc:
        checks.append(Check("config", FAIL, exc.message, "fix the config or Dockerfile as the message says"))
    if state.plan is not None:
        runner = runner.with_context(state.plan.config.docker_context)

    docker = shutil.which("docker", path=env.get("PATH"))
    if docker is None:
        checks.append(Check("docker CLI", FAIL, "docker is not on PATH", "install Docker with the buildx plugin"))
        return _skip_after(checks)
    checks.append(Check("docker CLI", PASS, docker))

    try:
        state.engine = runner.engine_info()
        e = state.engine
        origin = state.plan.config.docker_context_origin if state.plan else ""
        chosen = f", chosen by {origin}" if origin else ""
        checks.append(
            Check(
                "daemon",
                PASS,
                f"dockerd {e.server_version} on {e.named}{chosen}: storage {e.storage_driver}, {e.store} image "
                f"store, data root {e.root_dir or '?'}",
            )
        )
        checks.append(Check("buildx", PASS, state.engine.buildx_version))
    except StagecacheError as exc:
        no_buildx = "buildx is not installed" in exc.message
        fix = "install the buildx plugin" if no_buildx else "start dockerd (systemctl start docker)"
        if runner.context and not no_buildx:
            fix = "docker context ls; pass --context or set [project].docker_context to an engine that runs"
        checks.append(Check("buildx" if no_buildx else "daemon", FAIL, exc.message, fix))
        return _skip_after(checks)

    builder_name = state.plan.config.builder if state.plan else ""
    try:
        state.builder = runner.builder_info(builder_name)
    except StagecacheError as exc:
        checks.append(Check("builder", FAIL, exc.message, "docker buildx ls; set [project].builder to one of them"))
        return _skip_after(checks)
    b = state.builder
    problem = other_context_builder(builder_name, b, state.engine)
    if problem:
        checks.append(Check("builder", FAIL, problem, "use [project].docker_context (or --context) for that engine"))
        return _skip_after(checks)
    exportable = ["inline"] + (["registry", "local"] if b.can_export_cache else [])
    store = "with" if b.containerd_store else "without"
    detail = f"'{b.name}', driver {b.driver}" + (f" {store} the containerd image store" if b.driver == "docker" else "")
    checks.append(Check("builder", PASS, f"{detail}; can export cache: {', '.join(exportable)}"))

    if state.plan is not None:
        checks.extend(_plan_checks(state.plan, runner, b, env))
    return checks


def _skip_after(checks: list[Check]) -> list[Check]:
    """Say which checks did not run because the last one failed (they need it)."""
    failed = checks[-1].name
    later = _CHAIN[_CHAIN.index(failed) + 1 :] if failed in _CHAIN else ()
    return checks + [Check(name, SKIP, f"not checked: needs {failed}") for name in later]


def _plan_checks(plan: BuildPlan, runner: Runner, builder: BuilderInfo, env: Mapping[str, str]) -> list[Check]:
    out = []
    mode = plan.mode
    if mode.exports_cache and not builder.can_export_cache:
        out.append(
            Check(
                "cache export",
                FAIL,
                f"cache mode '{mode.name}' needs cache export, which the docker driver without the containerd "
                "image store cannot do",
                'daemon.json {"features": {"containerd-snapshotter": true}} or a docker-container builder',
            )
        )
    else:
        out.append(Check("cache export", PASS, f"builder can export what mode '{mode.name}' needs"))

    out.append(_frontend_check(plan, runner))
    if mode.needs_registry:
        out.append(_registry_check(plan, env))
    if mode.name == "local":
        out.append(_local_dir_check(plan))
    try:
        check_secrets(plan, env)
        if plan.config.secrets:
            out.append(Check("secrets", PASS, f"{len(plan.config.secrets)} secret source(s) present"))
    except StagecacheError as exc:
        out.append(Check("secrets", FAIL, exc.message, "export the variable or create the file"))
    out.extend(_image_checks(plan, runner, builder))
    network = _network_check(plan, runner, builder)
    if network is not None:
        out.append(network)
    return out


def _network_check(plan: BuildPlan, runner: Runner, builder: BuilderInfo) -> Check | None:
    """RUN steps on the engine's default network need the engine to have one: a dockerd run
    with --bridge=none has none, and every RUN step then fails ("network bridge not found")."""
    stages = [plan.graph.find(label) for b in plan.builds for label in b.reports]
    runs = any(i.text.split(None, 1)[0].upper() == "RUN" for s in stages if s is not None for i in s.steps)
    if plan.config.network or not runs or builder.driver != "docker":
        return None
    if runner.has_network("bridge"):
        return Check("network", PASS, "RUN steps use the engine's default network (bridge)")
    return Check(
        "network",
        FAIL,
        "this engine has no default bridge network (dockerd runs with --bridge=none): every RUN step would fail",
        "pass --network none (RUN steps that need no network) or --network host, or set [project].network",
    )


def _image_checks(plan: BuildPlan, runner: Runner, builder: BuilderInfo) -> list[Check]:
    """Every image the builds use is on the engine or can be pulled (a build would fail
    without it); and classic mode's one known trap on the containerd image store."""
    out = []
    if plan.mode.legacy_builder and builder.containerd_store:
        out.append(
            Check(
                "legacy builder",
                WARN,
                "cache mode 'classic' on the containerd image store: on a fresh runner, the legacy builder cannot "
                "restore a cached step whose layer is empty (such as WORKDIR of a folder that exists) and fails "
                "('failed to read diff archive: \"\" failed validation: invalid argument')",
                "use a BuildKit cache mode (registry, inline, local), or an engine with the classic overlay2 image "
                "store ([project].docker_context or --context)",
            )
        )
    external = sorted(
        {i for b in plan.builds for s in (b.stage, *b.folded) if (st := plan.stage_of(s)) for i in st.images}
    )
    missing = [i for i in external if not runner.image_exists(i)]
    unpullable = [(i, reason) for i in missing if (reason := runner.pull(i))]
    if unpullable:
        out.append(
            Check(
                "base images",
                FAIL,
                "; ".join(f"{i} is not on this engine and cannot be pulled ({reason})" for i, reason in unpullable),
                "fix the image name, docker login to its registry, or load the image onto the engine",
            )
        )
    elif external:
        pulled = f" (pulled now: {', '.join(missing)})" if missing else ""
        out.append(Check("base images", PASS, ", ".join(external) + pulled))
    return out


def _frontend_check(plan: BuildPlan, runner: Runner) -> Check:
    """Which Dockerfile frontend reads the file, and whether that changes the plan."""
    graph = plan.graph
    if graph.frontend.source != "assumed" or not graph.sensitive:
        why = "named by the # syntax= line" if graph.frontend.source == "syntax" else "no line depends on its version"
        return Check("frontend", PASS, f"{graph.frontend.description} ({why})")
    lines = "; ".join(graph.sensitive)
    fix = "add '# syntax=docker/dockerfile:1' as the first line to get the same result on every engine"
    try:
        engine = make_plan(plan.config, probe=lambda: runner.builtin_frontend_is_current(plan.config.builder))
    except StagecacheError as exc:
        return Check("frontend", FAIL, exc.message, fix)
    fe = engine.graph.frontend
    if fe.modern:
        return Check("frontend", PASS, f"{fe.description}: it reads {lines} as the plan does")
    detail = f"{fe.description} reads {lines} differently from frontend 1.11+; bake plans by its rules"
    return Check("frontend", WARN, detail, fix)


def _registry_check(plan: BuildPlan, env: Mapping[str, str]) -> Check:
    image = plan.config.image
    if not reference.names_registry(image):
        return Check(
            "registry",
            FAIL,
            f"cache mode '{plan.mode.name}' keeps its cache in a registry, but [project].image ({image}) names none",
            "set [project].image to a repository you can push to, e.g. ghcr.io/org/app",
        )
    host, _, repo = image.partition("/")
    try:
        creds = docker_credentials(host, env)
    except CredentialsError as exc:
        return Check("registry", FAIL, exc.message, "fix the credential helper, or docker login again")
    client = RegistryClient(host, credentials=creds)
    if not client.ping():
        return Check("registry", FAIL, f"{host} does not answer", "check the address, the network, or start it")
    if plan.config.cache.read_only:
        return Check("registry", PASS, f"{host} answers; read-only, so no push access is needed")
    try:
        result = client.check_push(repo)
    except OSError as exc:
        return Check("registry", FAIL, f"{host}: {exc}", "check the network")
    who = "no credentials in the docker config" if creds is None else f"credentials of user '{creds[0]}'"
    if result.ok:
        return Check("registry", PASS, f"{host}/{repo}: push allowed ({who}; checked without pushing)")
    return Check(
        "registry",
        FAIL,
        f"{host}/{repo}: {result.detail} ({who})",
        f"docker login {host} with an account that may push to {repo}",
    )


def _local_dir_check(plan: BuildPlan) -> Check:
    d = plan.config.cache.local_dir
    try:
        check_local_dir(plan)
    except StagecacheError as exc:
        return Check("local cache", FAIL, exc.message, "set [cache].local_dir to a folder of its own")
    probe = d
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        return Check("local cache", FAIL, f"{probe} is not writable", f"make {probe} writable or choose another")
    return Check("local cache", PASS, f"{d} ({'exists' if d.exists() else 'will be created'})")


def exit_code(checks: list[Check]) -> int:
    """0 when bake would work, 3 otherwise."""
    return 3 if any(c.status == FAIL for c in checks) else 0


def render(checks: list[Check]) -> str:
    """One line per check, the fix indented under a failure or warning."""
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{c.status.upper():<4}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.status in (FAIL, WARN):
            lines.append(f"      {'':<{width}}  fix: {c.fix}")
    verdict = "bake would work here." if exit_code(checks) == 0 else "bake would fail here: fix the FAIL lines."
    lines.append(verdict)
    return "\n".join(lines)


def to_json(checks: list[Check]) -> dict:
    """Schema ``stagecache.doctor/v1``."""
    return {
        "schema": "stagecache.doctor/v1",
        "ok": exit_code(checks) == 0,
        "checks": [{"name": c.name, "status": c.status, "detail": c.detail, "fix": c.fix or None} for c in checks],
    }
