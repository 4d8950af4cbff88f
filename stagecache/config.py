"""``stagecache.toml``: loading, validation and precedence (flag > env > file > default).

The file is read once into frozen dataclasses. Every problem is reported as a
:class:`~stagecache.errors.ConfigError` that names the file, the key path and
what was expected, so the CLI can print one paragraph and exit 2.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stagecache import ci, dockerignore, refs
from stagecache.cache import MODES
from stagecache.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_NAME = "stagecache.toml"
ENV_CACHE_MODE = "STAGECACHE_CACHE_MODE"
ENV_CONFIG = "STAGECACHE_CONFIG"

CACHE_MODES = tuple(MODES)
REGISTRY_MODES = ("min", "max")
EXPORT_ERROR_POLICIES = ("warn", "fail")
FIRST_EXPORTS = ("per-stage", "shared")
DEFAULT_REF_TEMPLATE = "{image}:cache-{stage}"
DEFAULT_TAG_TEMPLATE = "{image}:{stage}"
BRANCH_TAG_TEMPLATE = "{image}:{branch}-{stage}"
"""The stage image tag when [cache].tag is not set and the ref template has {branch}: a
feature branch never moves the tags the fallback branch pushes."""
EXTRA_TAGS_ON = ("fallback-branch", "every-branch")
DEFAULT_LOCAL_DIR = ".stagecache/cache"
TEMPLATE_FIELDS = ("image", "stage", "branch")


@dataclass(frozen=True)
class Secret:
    """A BuildKit secret: ``id`` and where its value comes from (never the value)."""

    id: str
    env: str | None = None
    file: Path | None = None

    def source(self) -> str:
        """``env=NAME`` or ``src=PATH``, as buildx's ``--secret`` wants it."""
        return f"env={self.env}" if self.env else f"src={self.file}"


@dataclass(frozen=True)
class StageSettings:
    """``[stages.NAME]``: per-stage overrides."""

    tags: tuple[str, ...] = ()
    push: bool | None = None
    fail_under: float | None = None
    """Minimum cache-hit percentage of this stage (the --fail-under gate)."""


@dataclass(frozen=True)
class CacheSettings:
    """``[cache]``."""

    mode: str = "local"
    registry_mode: str = "max"
    ref: str = DEFAULT_REF_TEMPLATE
    tag: str = DEFAULT_TAG_TEMPLATE
    local_dir: Path = Path(DEFAULT_LOCAL_DIR)
    mode_origin: str = ""
    """Where ``mode`` came from when not from the config: ``--cache-mode`` or the environment
    variable (for messages)."""
    local_dir_origin: str = "config"
    """Why ``local_dir`` is where it is: "config" ([cache].local_dir), "project" (the default
    .stagecache/cache, which the build context does not send: outside it, or excluded by its
    .dockerignore) or "user" (the default in the user's cache folder, because the project's
    would be sent as context; see :func:`default_local_dir`)."""
    on_export_error: str = "warn"
    first_export: str = "per-stage"
    """A registry project's first bake: "per-stage" (each stage's own cache exported by its own
    build) or "shared" (one mode=max cache of the target, copied to every new stage's ref:
    stagecache.branchcopy.choose_first)."""
    fallback_branch: str = "main"
    """With {branch} in a template: the branch whose caches are imported after the own branch's."""
    read_only: bool = False
    """Import caches, export none and push nothing (untrusted pull-request builds)."""
    fail_under: float | None = None
    """Minimum overall cache-hit percentage after a successful bake (exit 4 below it)."""


@dataclass(frozen=True)
class Edit:
    """``[bench.edits]``: the change a scenario makes to a copy of the build context."""

    scenario: str
    file: str
    """Path relative to the build context (``/``-separated, never leaving it)."""
    append: str


@dataclass(frozen=True)
class BenchSettings:
    """``[bench]``. Empty tuples mean "the defaults" (see stagecache.bench)."""

    strategies: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()
    repeat: int = 1
    edits: tuple[Edit, ...] = ()
    allow_prune: bool = False
    layers_scenario: str = ""
    classic_context: str = ""
    """The docker context the ``classic-*`` strategies run on (an engine with the classic image
    store); empty: the engine of the other strategies."""

    def edit(self, scenario: str) -> Edit | None:
        """The edit declared for ``scenario``."""
        return next((e for e in self.edits if e.scenario == scenario), None)


@dataclass(frozen=True)
class Config:
    """The whole, validated configuration. Paths are absolute."""

    path: Path | None
    root: Path
    dockerfile: Path
    context: Path
    image: str
    image_set: bool = True
    """Whether [project].image (or --image) named it; False: the local default stagecache/<folder>."""
    target: str = ""
    tags: tuple[str, ...] = ()
    tags_on: str = "fallback-branch"
    """Where the extra tags ([project].tags, [stages.NAME].tags: a release's ``latest`` or
    version) are applied when the templates have {branch}: only in bakes of the fallback
    branch ("fallback-branch"), or on every branch ("every-branch")."""
    builder: str = ""
    docker_context: str = ""
    """The docker context every docker command of stagecache uses (``docker --context``); empty:
    docker's own choice (DOCKER_CONTEXT, DOCKER_HOST, else the current context)."""
    docker_context_origin: str = ""
    """Where the engine choice came from, for messages: ``--context``,
    ``[project].docker_context``, ``DOCKER_CONTEXT``, ``DOCKER_HOST``, or ""."""
    network: str = ""
    platforms: tuple[str, ...] = ()
    push: bool | None = None
    cache: CacheSettings = field(default_factory=CacheSettings)
    build_args: tuple[tuple[str, str], ...] = ()
    secret_args: tuple[str, ...] = ()
    """``[build].secret_args``: build args whose values are secret, whatever their names."""
    secrets: tuple[Secret, ...] = ()
    stages: tuple[tuple[str, StageSettings], ...] = ()
    bench: BenchSettings = field(default_factory=BenchSettings)
    jobs: int = 0
    """Stages built at the same time (0 = :func:`default_jobs`)."""
    on_failure: str = "finish"
    """When a stage fails while others run: let them "finish", or "cancel" them."""
    execution: str = "per-stage"
    """"per-stage": one ``buildx build`` per stage; "bake": one ``buildx bake`` of every stage."""
    scope: str = "stages"
    """"stages": build and cache every stage; "final": one build of the target with its own cache."""
    fast_path: bool = True
    """Build the target once first, importing every stage's cache; then only the stages that
    missed (or whose own cache is missing) are built on their own, to export and push."""
    branch: str = ""
    """The branch being built ({branch} in templates); empty = the fallback branch."""
    branch_source: str = ""

    @property
    def source(self) -> str:
        """Where the config came from, for messages."""
        return str(self.path) if self.path else "the embedded default configuration"

    def stage_settings(self, stage: str) -> StageSettings:
        """Overrides for ``stage`` (empty when none are configured)."""
        return dict(self.stages).get(stage.lower(), StageSettings())

    @property
    def uses_branch(self) -> bool:
        """Whether the cache ref or tag template has ``{branch}`` in it."""
        return any("{branch}" in t for t in (self.cache.ref, self.cache.tag))

    @property
    def effective_jobs(self) -> int:
        """Stages built at once: configured, else :func:`default_jobs`."""
        return self.jobs or default_jobs()

    @property
    def push_enabled(self) -> bool:
        """Whether stage images are pushed: configured, else on for the registry-backed modes."""
        if self.push is not None:
            return self.push
        return self.cache.mode in ("registry", "inline", "classic")


@dataclass(frozen=True)
class Overrides:
    """Values from the command line; None means "not given"."""

    cache_mode: str | None = None
    registry_mode: str | None = None
    push: bool | None = None
    target: str | None = None
    image: str | None = None
    branch: str | None = None
    network: str | None = None
    read_only: bool | None = None
    fail_under: float | None = None
    jobs: int | None = None
    execution: str | None = None
    scope: str | None = None
    context: str | None = None


# --- schema -----------------------------------------------------------------
# One table per section: key -> validator(value, keypath) -> python value.

Validator = Callable[[Any, str], Any]


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, keypath: str, message: str) -> ConfigError:
        if not keypath:  # an environment variable: the source names it
            return ConfigError(f"{self.source}: {message}")
        if keypath.startswith("--"):
            return ConfigError(f"{self.source}: option {keypath}: {message}")
        return ConfigError(f"{self.source}: key '{keypath}': {message}")

    def string(self, value: Any, keypath: str) -> str:
        if not isinstance(value, str):
            raise self.fail(keypath, f"expected a string, got {_typename(value)} {value!r}.")
        return value

    def flagsafe(self, value: Any, keypath: str) -> str:
        value = self.string(value, keypath)
        problem = refs.check_option_value(value)
        if problem:
            raise self.fail(keypath, f"{value!r} is not allowed: {problem}.")
        return value

    def boolean(self, value: Any, keypath: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(keypath, f"expected true or false, got {_typename(value)} {value!r}.")
        return value

    def choice(self, options: tuple[str, ...]) -> Validator:
        def check(value: Any, keypath: str) -> str:
            value = self.string(value, keypath)
            if value not in options:
                raise self.fail(keypath, f"expected one of {_quoted(options)}, got {value!r}.{_hint(value, options)}")
            return value

        return check

    def reference(self, value: Any, keypath: str) -> str:
        value = self.string(value, keypath)
        problem = refs.check_reference(value)
        if problem:
            raise self.fail(keypath, f"{value!r} is not a valid image reference: {problem}.")
        return value

    def repository(self, value: Any, keypath: str) -> str:
        value = self.string(value, keypath)
        problem = refs.check_repository(value)
        if problem:
            raise self.fail(keypath, f"{value!r} is not a valid repository: {problem}.")
        return value

    def template(self, value: Any, keypath: str) -> str:
        value = self.string(value, keypath)
        unknown = sorted(set(re.findall(r"\{([^{}]*)\}", value)) - set(TEMPLATE_FIELDS))
        if unknown:
            raise self.fail(
                keypath,
                f"{value!r} uses unknown placeholder {{{unknown[0]}}}; "
                f"the placeholders are {', '.join('{' + n + '}' for n in TEMPLATE_FIELDS)}.",
            )
        try:
            value.format(**{n: "x" for n in TEMPLATE_FIELDS})
        except (KeyError, IndexError, ValueError):
            raise self.fail(keypath, f"{value!r} has an unbalanced '{{' or '}}'.") from None
        if "{stage}" not in value:
            raise self.fail(keypath, f"{value!r} must contain {{stage}}, or every stage would share one name.")
        sample = value.format(image="registry.example.com/app", stage="stage", branch="main")
        problem = refs.check_reference(sample)
        if problem:
            raise self.fail(keypath, f"{value!r} does not make a valid image reference: {problem}.")
        return value

    def string_list(self, item: Validator) -> Validator:
        def check(value: Any, keypath: str) -> tuple[str, ...]:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise self.fail(keypath, f"expected a list of strings, got {_typename(value)}.")
            return tuple(item(v, f"{keypath}[{i}]") for i, v in enumerate(value))

        return check

    def docker_context(self, value: Any, keypath: str) -> str:
        """A docker context's name, as ``docker context create`` accepts it ("" = none)."""
        value = self.string(value, keypath)
        if value and not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]*", value):
            raise self.fail(
                keypath,
                f"{value!r} is not a docker context name (letters, digits and _.+- , not starting with "
                "'-'); list them with `docker context ls`.",
            )
        return value

    def platform(self, value: Any, keypath: str) -> str:
        value = self.flagsafe(value, keypath)
        if not re.fullmatch(r"[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?", value):
            raise self.fail(keypath, f"{value!r} is not a platform; expected os/arch[/variant], e.g. linux/amd64.")
        return value

    def jobs(self, value: Any, keypath: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
            raise self.fail(
                keypath, f"expected a whole number of stages from 1 to 64, got {_typename(value)} {value!r}."
            )
        return value

    def percent(self, value: Any, keypath: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise self.fail(keypath, f"expected a percentage from 0 to 100, got {_typename(value)} {value!r}.")
        return float(value)

    def branch(self, value: Any, keypath: str) -> str:
        value = self.flagsafe(value, keypath)
        if not value.strip() or any(c.isspace() for c in value):
            raise self.fail(keypath, f"{value!r} is not a branch name.")
        return value

    def table(self, value: Any, keypath: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(keypath, f"expected a table ([{keypath}]), got {_typename(value)}.")
        return value

    def keys(self, data: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        for key in data:
            if key not in allowed:
                where = f"{prefix}.{key}" if prefix else key
                raise self.fail(where, f"unknown key.{_hint(key, allowed)} Valid keys here: {_quoted(allowed)}.")


def _typename(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _quoted(options: tuple[str, ...]) -> str:
    return ", ".join(f'"{o}"' for o in options)


def _hint(value: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


_SECTIONS = ("project", "cache", "build", "stages", "bench")
_PROJECT_KEYS = (
    "dockerfile",
    "context",
    "target",
    "image",
    "tags",
    "tags_on",
    "builder",
    "docker_context",
    "network",
    "platforms",
    "push",
)
_CACHE_KEYS = (
    "mode",
    "registry_mode",
    "ref",
    "tag",
    "local_dir",
    "on_export_error",
    "first_export",
    "fallback_branch",
    "read_only",
    "fail_under",
)
_BUILD_KEYS = ("args", "secret_args", "secrets", "jobs", "on_failure", "execution", "scope", "fast_path")
SCOPES = ("stages", "final")
ON_FAILURE = ("finish", "cancel")
EXECUTIONS = ("per-stage", "bake")
NETWORKS = ("", "default", "none", "host")
"""What ``buildx build --network`` accepts ("" = not passed: the builder's default)."""


def default_jobs() -> int:
    """Stages built at once by default: the CPU count, at most 4 (BuildKit parallelises inside
    each build too, so more buys little)."""
    return max(1, min(4, os.cpu_count() or 1))


_STAGE_KEYS = ("tags", "push", "fail_under")
_SECRET_KEYS = ("env", "file")
_BENCH_KEYS = ("strategies", "scenarios", "repeat", "edits", "allow_prune", "layers_scenario", "classic_context")
_EDIT_KEYS = ("file", "append")


def default_image(root: Path) -> str:
    """A local repository name derived from the project folder (``stagecache/<folder>``)."""
    name = re.sub(r"[^a-z0-9]+", "-", root.name.lower()).strip("-") or "project"
    return f"stagecache/{name}"


def default_local_dir(
    root: Path, context: Path, env: Mapping[str, str], dockerfile: Path | None = None
) -> tuple[Path, str]:
    """The local cache folder when [cache].local_dir is not set, and its origin.

    ``ROOT/.stagecache/cache`` when the build context does not send it (the context is
    elsewhere, or its .dockerignore excludes the folder); otherwise a folder of this project
    in the user's cache folder (``$XDG_CACHE_HOME/stagecache``, else ``~/.cache/stagecache``),
    named after the project folder and its path, so that the default works on any project
    without editing a file."""
    own = root / DEFAULT_LOCAL_DIR
    if context not in own.parents or dockerignore.excluded(context, own, dockerfile):
        return own, "project"
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME", "").startswith("/") else None
    if base is None:
        home = env.get("HOME") or str(Path.home())
        base = Path(home) / ".cache"
    name = re.sub(r"[^a-z0-9]+", "-", root.name.lower()).strip("-") or "project"
    import hashlib  # only for this default

    digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    # The real path: $HOME often goes through a link (/home -> /var/home on Fedora Silverblue),
    # and a cache folder reached through a link is refused (see preflight.check_local_dir).
    return Path(os.path.realpath(base)) / "stagecache" / f"{name}-{digest}", "user"


def find_config(start: Path, explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file to use: ``--config``, else ``$STAGECACHE_CONFIG``, else
    ``stagecache.toml`` in ``start``; None means "use the embedded default"."""
    env = os.environ if env is None else env
    chosen = explicit or (Path(env[ENV_CONFIG]) if env.get(ENV_CONFIG) else None)
    if chosen is not None:
        chosen = chosen if chosen.is_absolute() else start / chosen
        if not chosen.is_file():
            raise ConfigError(f"{chosen}: config file not found. Pass an existing file to --config, or omit it.")
        return chosen
    candidate = start / CONFIG_NAME
    return candidate if candidate.is_file() else None


def load(
    path: Path | None,
    root: Path | None = None,
    overrides: Overrides | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Read and validate ``path`` (or the embedded default when None) and apply
    ``overrides`` and the environment. ``root`` is the project folder used when
    there is no file (default: the current directory)."""
    env = os.environ if env is None else env
    if path is None:
        data: dict[str, Any] = {}
        base = (root or Path.cwd()).resolve()
        source = f"{base / CONFIG_NAME} (embedded default)"
    else:
        path = path.resolve()
        base = path.parent
        source = str(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}.") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: the config file is not UTF-8 text.") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(_toml_error(path, exc)) from None
    config = _from_dict(data, base, path, source, env)
    return apply_overrides(config, overrides or Overrides(), env)


def _toml_error(path: Path, exc: Exception) -> str:
    msg = str(exc)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    if m:
        reason = msg[: m.start()].strip()
        return (
            f"{path}:{m.group(1)}:{m.group(2)}: TOML syntax error: {reason}. "
            "Fix that line (see https://toml.io for the syntax)."
        )
    return f"{path}: TOML syntax error: {msg}."


def _from_dict(data: dict[str, Any], base: Path, path: Path | None, source: str, env: Mapping[str, str]) -> Config:
    c = _Checker(source)
    c.keys(data, _SECTIONS, "")
    project = c.table(data.get("project", {}), "project")
    c.keys(project, _PROJECT_KEYS, "project")
    cache = c.table(data.get("cache", {}), "cache")
    c.keys(cache, _CACHE_KEYS, "cache")
    build = c.table(data.get("build", {}), "build")
    c.keys(build, _BUILD_KEYS, "build")

    def rel(value: str) -> Path:
        p = Path(value)
        return (p if p.is_absolute() else base / p).resolve()

    context = rel(c.flagsafe(project.get("context", "."), "project.context"))
    dockerfile = rel(c.flagsafe(project.get("dockerfile", "Dockerfile"), "project.dockerfile"))
    target = project.get("target", "")
    if target:
        target = c.flagsafe(target, "project.target")
        if not refs.STAGE_NAME_RE.match(target):
            raise c.fail("project.target", f"{target!r} is not a stage name (letters, digits, '-', '_', '.').")
    image_set = project.get("image") is not None
    image = c.repository(project["image"], "project.image") if image_set else default_image(base)
    push = project.get("push")
    if push is not None:
        push = c.boolean(push, "project.push")

    if "local_dir" in cache:
        # Not resolved: bake refuses a local_dir that goes through a symlink, so keep the link visible.
        local_dir = Path(os.path.abspath(base / c.flagsafe(cache["local_dir"], "cache.local_dir")))
        local_dir_origin = "config"
    else:
        local_dir, local_dir_origin = default_local_dir(base, context, env, dockerfile)
    ref = cache.get("ref", DEFAULT_REF_TEMPLATE)
    tag_default = BRANCH_TAG_TEMPLATE if isinstance(ref, str) and "{branch}" in ref else DEFAULT_TAG_TEMPLATE
    cache_settings = CacheSettings(
        mode=c.choice(CACHE_MODES)(cache.get("mode", "local"), "cache.mode"),
        registry_mode=c.choice(REGISTRY_MODES)(cache.get("registry_mode", "max"), "cache.registry_mode"),
        ref=c.template(ref, "cache.ref"),
        tag=c.template(cache.get("tag", tag_default), "cache.tag"),
        local_dir=local_dir,
        local_dir_origin=local_dir_origin,
        on_export_error=c.choice(EXPORT_ERROR_POLICIES)(cache.get("on_export_error", "warn"), "cache.on_export_error"),
        first_export=c.choice(FIRST_EXPORTS)(cache.get("first_export", "per-stage"), "cache.first_export"),
        fallback_branch=c.branch(cache.get("fallback_branch", "main"), "cache.fallback_branch"),
        read_only=c.boolean(cache.get("read_only", False), "cache.read_only"),
        fail_under=None if "fail_under" not in cache else c.percent(cache["fail_under"], "cache.fail_under"),
    )

    args = c.table(build.get("args", {}), "build.args")
    build_args = []
    for name, value in args.items():
        if not refs.ARG_NAME_RE.match(name):
            raise c.fail(
                f"build.args.{name}", "not a valid build arg name (letters, digits and '_', not starting with a digit)."
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        value = c.string(value, f"build.args.{name}")
        if "\n" in value or "\x00" in value:
            raise c.fail(
                f"build.args.{name}",
                "a build arg value cannot contain a newline; pass a value of several lines (a key, a "
                "certificate) as a secret: [build.secrets] and RUN --mount=type=secret.",
            )
        build_args.append((name, value))
    declared = tuple(name for name, _ in build_args)
    secret_args = c.string_list(c.string)(build.get("secret_args", []), "build.secret_args")
    for i, name in enumerate(secret_args):
        if name not in declared:
            same = [d for d in declared if d.lower() == name.lower()]
            hint = f" Did you mean '{same[0]}'?" if same else _hint(name, declared)
            known = f"Declared: {_quoted(declared)}." if declared else "[build.args] declares none."
            raise c.fail(f"build.secret_args[{i}]", f"{name!r} is not a build arg in [build.args].{hint} {known}")

    secrets = []
    for sid, spec in c.table(build.get("secrets", {}), "build.secrets").items():
        key = f"build.secrets.{sid}"
        c.flagsafe(sid, key)
        if isinstance(spec, str):
            spec = {"env": spec}
        spec = c.table(spec, key)
        c.keys(spec, _SECRET_KEYS, key)
        if len(spec) != 1:
            raise c.fail(key, 'set exactly one of env = "VAR" or file = "path".')
        if "env" in spec:
            var = c.flagsafe(spec["env"], f"{key}.env")
            if not refs.ARG_NAME_RE.match(var):
                raise c.fail(f"{key}.env", f"{var!r} is not an environment variable name.")
            secrets.append(Secret(sid, env=var))
        else:
            # "~/.npmrc" means the user's: there is no shell here to expand it.
            secrets.append(Secret(sid, file=rel(os.path.expanduser(c.flagsafe(spec["file"], f"{key}.file")))))

    stages = []
    for name, spec in c.table(data.get("stages", {}), "stages").items():
        key = f"stages.{name}"
        if not refs.STAGE_NAME_RE.match(name):
            raise c.fail(key, "not a stage name (letters, digits, '-', '_', '.').")
        spec = c.table(spec, key)
        c.keys(spec, _STAGE_KEYS, key)
        push_value = spec.get("push")
        stages.append(
            (
                name.lower(),
                StageSettings(
                    tags=c.string_list(c.reference)(spec.get("tags", []), f"{key}.tags"),
                    push=None if push_value is None else c.boolean(push_value, f"{key}.push"),
                    fail_under=None if "fail_under" not in spec else c.percent(spec["fail_under"], f"{key}.fail_under"),
                ),
            )
        )

    bench = _bench(c, c.table(data.get("bench", {}), "bench"))

    return Config(
        path=path,
        root=base,
        dockerfile=dockerfile,
        context=context,
        image=image,
        image_set=image_set,
        target=target,
        tags=c.string_list(c.reference)(project.get("tags", []), "project.tags"),
        tags_on=c.choice(EXTRA_TAGS_ON)(project.get("tags_on", "fallback-branch"), "project.tags_on"),
        builder=c.flagsafe(project.get("builder", ""), "project.builder"),
        docker_context=c.docker_context(project.get("docker_context", ""), "project.docker_context"),
        docker_context_origin="[project].docker_context" if project.get("docker_context") else "",
        network=c.choice(NETWORKS)(project.get("network", ""), "project.network"),
        platforms=c.string_list(c.platform)(project.get("platforms", []), "project.platforms"),
        push=push,
        cache=cache_settings,
        build_args=tuple(build_args),
        secret_args=tuple(dict.fromkeys(secret_args)),
        secrets=tuple(secrets),
        stages=tuple(stages),
        bench=bench,
        jobs=c.jobs(build["jobs"], "build.jobs") if "jobs" in build else 0,
        on_failure=c.choice(ON_FAILURE)(build.get("on_failure", "finish"), "build.on_failure"),
        execution=c.choice(EXECUTIONS)(build.get("execution", "per-stage"), "build.execution"),
        scope=c.choice(SCOPES)(build.get("scope", "stages"), "build.scope"),
        fast_path=c.boolean(build.get("fast_path", True), "build.fast_path"),
    )


def _bench(c: _Checker, bench: dict[str, Any]) -> BenchSettings:
    if not bench:
        return BenchSettings()
    from stagecache import strategies  # only a [bench] table needs it: plan and bake start faster

    c.keys(bench, _BENCH_KEYS, "bench")
    edits = []
    for scenario, spec in c.table(bench.get("edits", {}), "bench.edits").items():
        key = f"bench.edits.{scenario}"
        if not strategies.EDIT_SCENARIO_RE.match(scenario):
            raise c.fail(key, "an edit's name is its scenario: warm-edit-NAME or cold-edit-NAME (lowercase).")
        spec = c.table(spec, key)
        c.keys(spec, _EDIT_KEYS, key)
        if "file" not in spec:
            raise c.fail(key, 'set file = "path/in/the/context" (and append = "text").')
        file = c.string(spec["file"], f"{key}.file")
        parts = Path(file).parts
        if not file or Path(file).is_absolute() or ".." in parts:
            raise c.fail(f"{key}.file", f"{file!r} must be a relative path inside the build context.")
        append = c.string(spec.get("append", "stagecache bench edit"), f"{key}.append")
        if "\n" in append or "\r" in append:
            raise c.fail(f"{key}.append", "the text appended must be a single line.")
        edits.append(Edit(scenario, Path(file).as_posix(), append))

    names = c.string_list(c.string)(bench.get("strategies", []), "bench.strategies")
    for i, name in enumerate(names):
        if name not in strategies.STRATEGIES:
            options = tuple(strategies.STRATEGIES)
            hint = _hint(name, options)
            raise c.fail(f"bench.strategies[{i}]", f"unknown strategy {name!r}.{hint} Strategies: {_quoted(options)}.")
    scenarios = c.string_list(c.string)(bench.get("scenarios", []), "bench.scenarios")
    declared = {e.scenario for e in edits}
    for i, name in enumerate(scenarios):
        problem = strategies.scenario_problem(name)
        if problem:
            raise c.fail(f"bench.scenarios[{i}]", problem + ".")
        if strategies.Scenario.parse(name).edit and name not in declared:
            raise c.fail(f"bench.scenarios[{i}]", f"scenario {name!r} needs an edit: add it under [bench.edits].")
    repeat = bench.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 100:
        raise c.fail("bench.repeat", f"expected a whole number from 1 to 100, got {repeat!r}.")
    allow_prune = c.boolean(bench.get("allow_prune", False), "bench.allow_prune")
    layers = bench.get("layers_scenario", "")
    if layers:
        problem = strategies.scenario_problem(c.string(layers, "bench.layers_scenario"))
        if problem:
            raise c.fail("bench.layers_scenario", problem + ".")
    return BenchSettings(
        strategies=names,
        scenarios=scenarios,
        repeat=repeat,
        edits=tuple(edits),
        allow_prune=allow_prune,
        layers_scenario=layers,
        classic_context=c.docker_context(bench.get("classic_context", ""), "bench.classic_context"),
    )


def apply_overrides(config: Config, overrides: Overrides, env: Mapping[str, str]) -> Config:
    """Apply flag and environment overrides: flag > env > file > default."""
    c = _Checker("command line")
    mode, origin = config.cache.mode, config.cache.mode_origin
    if env.get(ENV_CACHE_MODE):
        mode = _Checker(f"environment variable {ENV_CACHE_MODE}").choice(CACHE_MODES)(env[ENV_CACHE_MODE], "")
        origin = ENV_CACHE_MODE
    if overrides.cache_mode:
        mode, origin = c.choice(CACHE_MODES)(overrides.cache_mode, "--cache-mode"), "--cache-mode"
    cache = replace(config.cache, mode=mode, mode_origin=origin)
    if overrides.registry_mode:
        cache = replace(cache, registry_mode=c.choice(REGISTRY_MODES)(overrides.registry_mode, "--registry-mode"))
    config = replace(config, cache=cache)
    if overrides.push is not None:
        config = replace(config, push=overrides.push)
    if overrides.target:
        target = c.flagsafe(overrides.target, "--target")
        config = replace(config, target=target)
    if overrides.image:
        config = replace(config, image=c.repository(overrides.image, "--image"), image_set=True)
    if overrides.scope:
        config = replace(config, scope=c.choice(SCOPES)(overrides.scope, "--scope"))
    if overrides.network is not None:
        config = replace(config, network=c.choice(NETWORKS)(overrides.network, "--network"))
    if overrides.execution:
        config = replace(config, execution=c.choice(EXECUTIONS)(overrides.execution, "--execution"))
    if overrides.jobs is not None:
        config = replace(config, jobs=c.jobs(overrides.jobs, "--jobs"))
    if overrides.read_only is not None:
        config = replace(config, cache=replace(config.cache, read_only=overrides.read_only))
    if overrides.fail_under is not None:
        config = replace(
            config, cache=replace(config.cache, fail_under=c.percent(overrides.fail_under, "--fail-under"))
        )
    if overrides.context:
        config = replace(config, docker_context=c.docker_context(overrides.context, "--context"))
        config = replace(config, docker_context_origin="--context")
    else:
        # docker's own variables choose the engine when set: the file's choice gives way to them.
        # DOCKER_HOST first: docker itself lets it win over DOCKER_CONTEXT.
        chosen = next((v for v in ("DOCKER_HOST", "DOCKER_CONTEXT") if env.get(v)), "")
        if chosen:
            config = replace(config, docker_context="", docker_context_origin=chosen)
    if overrides.branch:
        config = replace(config, branch=c.branch(overrides.branch, "--branch"), branch_source="--branch")
    elif config.uses_branch:
        branch, source = ci.detect_branch(env, config.root)
        config = replace(config, branch=branch or "", branch_source=source)
    return config


def checked_docker_context(value: str, option: str) -> str:
    """A docker context name given on the command line (ConfigError naming ``option``)."""
    return _Checker("command line").docker_context(value, option)
