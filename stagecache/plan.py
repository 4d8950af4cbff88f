"""Planning: config + stage graph -> the exact commands ``bake`` will run.

Pure: nothing here touches docker or the file system beyond reading the
Dockerfile. ``stagecache plan`` prints this; ``stagecache bake`` executes it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote

from stagecache import graph as graphmod
from stagecache.cache import CacheMode, CacheSpec, Naming, StageCache, dedupe, get_mode
from stagecache.config import SCOPES, Config
from stagecache.errors import ConfigError, UsageError

REDACTED = "***"

# Build arg names are read part by part (split at "_" and at camelCase humps), so that
# KEYBOARD_LAYOUT or TOKENIZERS_PARALLELISM are not secrets while DB_PASS and GH_PAT are.
# The table of names and verdicts is tests/data/secret_names.txt.
_SECRET_PARTS = frozenset(
    {"PASS", "PASSWD", "PASSWORD", "PASSWORDS", "PASSPHRASE", "PASSCODE", "PWD", "PAT", "TOKEN", "TOKENS"}
    | {"SECRET", "SECRETS", "SECRETKEY", "KEY", "KEYS", "APIKEY", "PRIVATE", "PRIVKEY", "CREDENTIAL"}
    | {"CREDENTIALS", "CRED", "CREDS", "AUTH", "OAUTH", "AUTHORIZATION", "DSN", "NPMRC", "NETRC", "PYPIRC"}
    | {"KUBECONFIG", "CERT", "CERTIFICATE", "SIGNING", "COOKIE", "COOKIES", "SESSION", "JWT", "BEARER"}
    | {"HMAC", "SALT", "PEPPER", "OTP", "TOTP"}
)
# Two parts that say it together: NPM_RC, DATABASE_URL, CONNECTION_STRING.
_SECRET_PAIRS = frozenset(
    {("NPM", "RC"), ("DATABASE", "URL"), ("DATABASE", "URI"), ("DB", "URL"), ("DB", "URI")}
    | {("CONNECTION", "STRING"), ("CONNECTION", "STR"), ("CONN", "STRING"), ("CONN", "STR")}
)
# Secret only as the last part: DB_CONNECTION, but not CONNECTION_POOL.
_SECRET_LAST = frozenset({"CONNECTION", "CONN", "CONNSTR"})
# Words glued to another: GHTOKEN, DBPASSWORD, CLIENTSECRET, PASSWORDHASH.
_GLUED_SUFFIXES: tuple[str, ...] = ("PASSWORD", "PASSWD", "PASSPHRASE", "PASSCODE", "TOKEN", "SECRET")
_GLUED_SUFFIXES += ("CREDENTIAL", "CREDENTIALS", "APIKEY", "PRIVATEKEY", "ACCESSKEY", "SECRETKEY")
_GLUED_PREFIXES = ("PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "APIKEY", "PRIVATEKEY")
# A last part that makes the name describe a secret rather than hold one: API_KEY_FILE (a path),
# PASSWORD_MIN_LENGTH, AUTH_ENABLED, SESSION_TIMEOUT, TOKEN_URL.
_DESCRIBES = frozenset(
    {"TIMEOUT", "TTL", "EXPIRY", "EXPIRES", "EXPIRATION", "AGE", "LENGTH", "LEN", "SIZE", "BITS", "COUNT"}
    | {"LIMIT", "MIN", "MAX", "ENABLED", "DISABLED", "REQUIRED", "MODE", "TYPE", "ALGORITHM", "ALGO"}
    | {"VERSION", "FILE", "PATH", "DIR", "NAME", "DOMAIN", "HOST", "PORT", "URL", "URI", "ENDPOINT"}
    | {"SERVER", "PROVIDER", "METHOD", "USER", "USERNAME"}
)
# A first part that makes it a switch: NO_AUTH, SKIP_SIGNING, USE_SSH_KEY.
_SWITCHES = frozenset({"NO", "SKIP", "DISABLE", "ENABLE", "USE", "WITH", "WITHOUT", "REQUIRE", "ALLOW"})
_PUBLIC = frozenset({"PUBLIC", "PUB"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# scheme://user:password@host: the password runs to the last '@' before the host.
_CREDENTIAL_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:(?P<password>[^\s/?#]+)@")
MIN_SCRUB_LENGTH = 4
"""Shorter values are redacted where stagecache prints build args, but not searched for in
the build log: replacing every "1" or "dev" there would mangle it and hide nothing."""
_NOT_SCRUBBED = frozenset({"true", "false", "none", "null", "never", "always"})


def name_parts(name: str) -> list[str]:
    """``dbPassword_v2`` -> ``["DB", "PASSWORD", "V2"]``."""
    return [p for p in re.split(r"[^A-Za-z0-9]+", _CAMEL.sub("_", name).upper()) if p]


def looks_secret(name: str) -> bool:
    """Whether a build arg name suggests its value is a secret (see tests/data/secret_names.txt)."""
    parts = name_parts(name)
    if not parts or parts == ["PWD"]:  # $PWD is the working directory
        return False
    if parts[-1] in _SECRET_LAST or any(pair in _SECRET_PAIRS for pair in zip(parts, parts[1:], strict=False)):
        return True
    if parts[-1] in _DESCRIBES or parts[0] in _SWITCHES:
        return False
    for i, part in enumerate(parts):
        if i and parts[i - 1] in _PUBLIC:  # PUBLIC_KEY, SSH_PUB_CERT
            continue
        if part in _SECRET_PARTS or part.endswith(_GLUED_SUFFIXES) or part.startswith(_GLUED_PREFIXES):
            return True
    return False


def credential_url_passwords(value: str) -> tuple[str, ...]:
    """The passwords of every ``scheme://user:password@host`` URL in a value (as written, and
    percent-decoded when that differs): ``https://ci:p%40ss@host`` -> ``("p%40ss", "p@ss")``."""
    out: list[str] = []
    for m in _CREDENTIAL_URL.finditer(value):
        password = m.group("password")
        out.extend(dict.fromkeys((password, unquote(password))))
    return tuple(dict.fromkeys(out))


def secret_arg_names(config: Config) -> tuple[str, ...]:
    """Build args whose values must never be shown: listed in ``[build].secret_args``, named like
    a secret, or holding a URL with a password."""
    marked = set(config.secret_args)
    return tuple(
        name
        for name, value in config.build_args
        if name in marked or looks_secret(name) or credential_url_passwords(value)
    )


def scrubbable(value: str) -> bool:
    """Whether a secret value is searched for (and replaced) in what the builder prints."""
    return len(value) >= MIN_SCRUB_LENGTH and value.lower() not in _NOT_SCRUBBED


@dataclass(frozen=True)
class Command:
    """One docker invocation: argv (``argv[0]`` is ``docker``) and extra environment."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    def redacted(self, secret_args: Collection[str] = ()) -> tuple[str, ...]:
        """argv with the values of ``secret_args`` build args replaced by ``***``."""
        out = list(self.argv)
        for i, item in enumerate(out):
            if i and out[i - 1] == "--build-arg" and "=" in item:  # a bare NAME reads the environment
                name = item.split("=", 1)[0]
                if name in secret_args:
                    out[i] = f"{name}={REDACTED}"
        return tuple(out)

    def display(self, secret_args: Collection[str] = ()) -> str:
        """A copy-pasteable shell line (values quoted), secrets redacted (in argv and env)."""
        prefix = " ".join(f"{k}={REDACTED if k in secret_args else shlex.quote(v)}" for k, v in self.env)
        line = shlex.join(self.redacted(secret_args))
        return f"{prefix} {line}" if prefix else line


FAST_MODES = ("inline", "local", "none", "registry")
"""Cache modes with a fast path (stagecache.fastpath); not ``classic`` (the legacy builder has no
first build)."""


@dataclass(frozen=True)
class StageBuild:
    """The build of one stage."""

    stage: str
    index: int
    target: str | None
    upstream: tuple[str, ...]
    tags: tuple[str, ...]
    push: bool
    cache: StageCache
    build: Command
    push_commands: tuple[Command, ...] = ()
    local_swap: tuple[Path, Path] | None = None
    folded: tuple[str, ...] = ()
    """Unnamed upstream stages built (and reported) as part of this build."""
    platforms: tuple[str, ...] = ()
    """The configured platforms that need this stage (empty: no --platform)."""

    @property
    def reports(self) -> tuple[str, ...]:
        """Stage labels whose steps this build's progress is attributed to."""
        return (*self.folded, self.stage)

    def importing(self, keep: Collection[str]) -> StageBuild:
        """This build importing only the caches in ``keep`` (``str`` of its cache specs)."""
        argv = list(self.build.argv)
        out: list[str] = []
        i = 0
        while i < len(argv):
            if argv[i] == "--cache-from" and i + 1 < len(argv) and argv[i + 1] not in keep:
                i += 2
                continue
            out.append(argv[i])
            i += 1
        cache_from = tuple(spec for spec in self.cache.cache_from if str(spec) in keep)
        return replace(
            self, cache=replace(self.cache, cache_from=cache_from), build=replace(self.build, argv=tuple(out))
        )

    def exporting_every_step(self) -> StageBuild:
        """This build exporting its registry cache with ``mode=max``: the records and layers of
        every step it ran or took from cache, those of the stages it is built on included
        (fastpath.first_build)."""
        specs = {
            str(s): CacheSpec(s.type, tuple((k, "max" if k == "mode" else v) for k, v in s.attrs))
            for s in self.cache.cache_to
        }
        argv = list(self.build.argv)
        for i in range(1, len(argv)):
            if argv[i - 1] == "--cache-to" and argv[i] in specs:
                argv[i] = str(specs[argv[i]])
        return replace(
            self,
            cache=replace(self.cache, cache_to=tuple(specs.values())),
            build=replace(self.build, argv=tuple(argv)),
        )

    def without_export(self) -> StageBuild:
        """This build without its cache export (and so without a local cache swap)."""
        argv = list(self.build.argv)
        while "--cache-to" in argv:
            i = argv.index("--cache-to")
            del argv[i : i + 2]
        return replace(
            self,
            cache=replace(self.cache, cache_to=()),
            build=replace(self.build, argv=tuple(argv)),
            local_swap=None,
        )


@dataclass(frozen=True)
class BuildPlan:
    """Everything ``bake`` will do, in order."""

    config: Config
    mode: CacheMode
    graph: graphmod.StageGraph
    """The stage graph for the first platform (the only one without [project].platforms)."""
    target: str
    builds: tuple[StageBuild, ...]
    pulls: tuple[Command, ...] = ()
    warnings: tuple[str, ...] = ()
    branch: str = ""
    """The branch in {branch}; empty when no template uses it."""
    fallback_branch: str | None = None
    """The branch whose caches are also imported, when it differs from ``branch``."""
    scope: str = "stages"
    graphs: tuple[graphmod.StageGraph, ...] = ()
    """One stage graph per platform: FROM lines that use TARGETARCH and friends can make the
    platforms need different stages."""
    probe: StageBuild | None = None
    """The fast path's first build ([build].fast_path): the target, importing every stage's
    cache, exporting and pushing nothing; ``builds`` then run only for the stages it shows
    need their own cache export or push (see stagecache.fastpath)."""
    probe_export: StageBuild | None = None
    """The same first build, exporting the target's cache and pushing its image as the target's
    own build would: taken when the input records forecast that the target alone will miss."""

    def stage_of(self, label: str, platform: str | None = None) -> graphmod.Stage | None:
        """The stage ``label`` in the graph of ``platform`` (default: the first platform)."""
        for g in self.graphs:
            if platform is None or g.platform == platform:
                return g.find(label)
        return self.graph.find(label)

    @property
    def secret_args(self) -> tuple[str, ...]:
        """Build arg names whose values must never be shown (:func:`secret_arg_names`)."""
        return secret_arg_names(self.config)

    @property
    def secret_values(self) -> tuple[str, ...]:
        """What is scrubbed from everything the builder prints: the values of those build args,
        and the password of any credential URL in any build arg (see :func:`scrubbable`)."""
        secret = set(self.secret_args)
        values = [value for name, value in self.config.build_args if name in secret]
        values += [p for _, value in self.config.build_args for p in credential_url_passwords(value)]
        return tuple(v for v in dict.fromkeys(values) if scrubbable(v))

    def commands(self) -> tuple[Command, ...]:
        """Every command in execution order."""
        out: list[Command] = list(self.pulls)
        for b in self.builds:
            out.append(b.build)
            out.extend(b.push_commands)
        return tuple(out)


def push_with_docker(config: Config, mode: CacheMode) -> bool:
    """Whether stage images are pushed by ``docker push`` after their build, rather than by
    the build itself (``--push``).

    The legacy builder cannot push. On the default builder (the docker driver) a build is
    loaded into the engine anyway, and buildx before 0.21 pushes it twice there: BuildKit
    pushes, then buildx has dockerd push it again (docker/buildx#3023). With the containerd
    image store that second push writes every manifest of the image under the tag at once;
    over an existing tag, a registry answers some of those racing requests with a 500 and the
    build fails (docs/cache-modes.md, "How stage images are pushed").
    A named builder (docker-container, remote) and multi-platform builds push from BuildKit."""
    return mode.legacy_builder or (not config.builder and len(config.platforms) <= 1)


def load_graphs(config: Config, probe: Callable[[], bool] | None = None) -> tuple[graphmod.StageGraph, ...]:
    """The stage graph for each configured platform (one graph, for this machine's platform,
    when none is configured). The file is read once.

    ``probe`` (bake, doctor, bench) answers whether the engine's built-in Dockerfile frontend is
    1.11 or later, for files whose meaning depends on it (graph.parse_for_engine); without it
    (plan) the current stable frontend is assumed and no engine is asked."""
    text = graphmod.read_text(config.dockerfile, _dockerfile_fix(config))
    args = dict(config.build_args)
    platforms = config.platforms or (None,)
    if probe is None:
        return tuple(graphmod.parse(config.dockerfile, args, p, text=text) for p in platforms)
    return tuple(graphmod.parse_for_engine(config.dockerfile, args, p, probe, text=text) for p in platforms)


def _dockerfile_fix(config: Config) -> str:
    """What to do about a Dockerfile that is not there, given where the config came from."""
    if config.path is None:
        return (
            f"No stagecache.toml was found in {config.root}, so the Dockerfile is looked for there: run stagecache "
            "in the project folder (or point -C at it), or set [project].dockerfile in a stagecache.toml."
        )
    return f"Check [project].dockerfile in {config.path} (a path relative to {config.path.parent}, or an absolute one)."


def make_plan(
    config: Config,
    graphs: tuple[graphmod.StageGraph, ...] | None = None,
    branch: str | None = None,
    scope: str | None = None,
    no_cache: bool = False,
    probe: Callable[[], bool] | None = None,
) -> BuildPlan:
    """Work out every command ``bake`` runs for ``config``.

    ``scope="stages"`` (what stagecache is for) builds and caches every stage.
    ``scope="final"`` builds only the target, importing and exporting only its
    own cache: the common single-build setup, kept for benchmarks and as a
    baseline that shows what per-stage caching saves. ``no_cache`` adds
    ``--no-cache``, so not even the engine's own cache is used.

    With ``{branch}`` in the ref or tag template, a bake on branch X imports X's
    caches first, then the fallback branch's, and exports only to X's.
    ``[cache].read_only`` imports only: no cache export, no push.
    """
    scope = scope or config.scope
    if scope not in SCOPES:
        raise UsageError(f"unknown scope '{scope}'; expected one of {', '.join(SCOPES)}.")
    # The legacy builder has no Dockerfile frontend to ask: classic plans by the current rules.
    graphs = graphs or load_graphs(config, None if get_mode(config.cache.mode).legacy_builder else probe)
    graph = graphs[0]
    _check_stage_settings(config, graph)
    mode = get_mode(config.cache.mode)
    target = graph.resolve_target(config.target or None)
    # Each platform's graph may need other stages (FROM base-${TARGETOS}): build the union,
    # each stage for the platforms that need it. Dependencies point up the file, so file
    # order is a build order for the union too.
    needs: dict[int, list[str]] = {}
    for g in graphs:
        for s in g.order(g.resolve_target(config.target or None)):
            needs.setdefault(s.index, []).append(g.platform)
    order = [graph.stages[i] for i in sorted(needs)]
    fallback = config.cache.fallback_branch
    naming = Naming(
        image=config.image,
        tag_template=config.cache.tag,
        ref_template=config.cache.ref,
        local_dir=config.cache.local_dir,
        branch=branch or config.branch or fallback,
    )
    fallback_naming = None
    if naming.branch != fallback and config.uses_branch:
        fallback_naming = replace(naming, branch=fallback)
    warnings = list(dict.fromkeys(w for g in graphs for w in g.warnings))
    if config.cache.read_only and config.push is True:
        warnings.append("read-only: nothing is pushed, although push is on.")
    warnings.extend(_secret_arg_warnings(config))
    if mode.legacy_builder:
        _check_classic(config, graph, target)
    if config.cache.first_export == "shared" and mode.name != "registry":
        warnings.append(
            f"[cache].first_export = \"shared\" applies only to cache mode 'registry'; with '{mode.name}' each "
            "stage exports its own cache."
        )
    if mode.push_required and not config.push_enabled and not config.cache.read_only:
        warnings.append(
            f"cache mode '{mode.name}' keeps its cache in the pushed stage images; with push off, "
            "this bake imports cache but saves none for the next run."
        )

    Pick = Callable[[graphmod.StageGraph, graphmod.Stage], Iterable[graphmod.Stage]]

    def union(pick: Pick, index: int) -> tuple[str, ...]:
        found = {s.index: s.label for g in graphs for s in pick(g, g.stages[index]) if s.name is not None}
        return tuple(found[i] for i in sorted(found))

    # An unnamed stage cannot be a --target: BuildKit builds it inside the first build that needs it.
    host: dict[int, int] = {}
    for stage in order:
        if stage.name is None and stage.index != target.index:
            host[stage.index] = next(
                s.index
                for s in order
                if (s.name is not None or s.index == target.index)
                and any(stage.index in {u.index for u in g.upstream(g.stages[s.index])} for g in graphs)
            )
            warnings.append(
                f"{graph.path}:{stage.line}: stage {stage.index} has no name, so it cannot be built and cached on its "
                f"own; it is built as part of stage '{graph.stages[host[stage.index]].label}', which uses it. Name it "
                "('FROM ... AS name') to cache it separately."
            )
    # A release's tags (latest, a version) belong to the fallback branch: on another branch
    # they are not applied, unless [project].tags_on says every branch.
    held_back = (
        config.uses_branch and config.tags_on == "fallback-branch" and naming.branch != fallback
        and (bool(config.tags) or any(s.tags for _, s in config.stages))
    )  # fmt: skip
    if held_back:
        warnings.append(
            f"branch '{naming.branch}' is not the fallback branch '{fallback}': the extra tags of [project].tags "
            'and [stages.*].tags are left out (set [project].tags_on = "every-branch" to apply them on every '
            "branch)."
        )
    builds: list[StageBuild] = []
    for stage in order:
        is_target = stage.index == target.index
        if stage.index in host or (scope == "final" and not is_target):
            continue
        if scope == "final":
            folded = tuple(s.label for s in order if s.index != stage.index)
        else:
            folded = tuple(graph.stages[u].label for u, h in host.items() if h == stage.index)
        upstream = union(graphmod.StageGraph.upstream, stage.index) if scope == "stages" else ()
        # Per-stage builds: the stages built earlier in this bake are in the engine's cache
        # already, so a stage imports its own cache and its direct dependencies' (linear, not
        # quadratic, in a long chain). One bake session starts every target at once, and a step
        # of an upstream stage runs in whichever target reaches it first (BuildKit merges the
        # others into it), so there every target imports every upstream cache. The legacy
        # builder only reuses --cache-from images: it needs every one.
        imports = upstream
        if scope == "stages" and not mode.legacy_builder and config.execution != "bake":
            imports = union(graphmod.StageGraph.direct_named, stage.index)
        platforms = tuple(needs[stage.index]) if config.platforms else ()
        builds.append(
            _stage_build(
                config,
                mode,
                naming,
                fallback_naming,
                stage,
                upstream,
                imports,
                is_target,
                folded,
                no_cache,
                platforms,
                extra_tags=not held_back,
            )
        )

    if not config.image_set:
        if mode.needs_registry:
            origin = f" (from {config.cache.mode_origin})" if config.cache.mode_origin else ""
            _refuse_default_image(config, f"cache mode '{mode.name}'{origin} keeps its cache in a registry")
        pushing = [b.stage for b in builds if b.push]
        if pushing:
            _refuse_default_image(config, f"this bake pushes stage '{pushing[0]}'")
    first = first_export = None
    # The fast path's conditions that the plan decides (which caches are current is fastpath's):
    # a read-only bake anywhere; else a mode with a fast path, the default builder, one platform.
    fast = config.cache.read_only or (mode.name in FAST_MODES and not config.builder and len(config.platforms) <= 1)
    if config.fast_path and fast and scope == "stages" and not mode.legacy_builder and not no_cache and len(builds) > 1:
        # One build of the target that imports every stage's cache and exports nothing: when every
        # step hits, it is the whole bake (see stagecache.fastpath).
        probes = [
            _stage_build(
                config,
                mode,
                naming,
                fallback_naming,
                target,
                upstream=union(graphmod.StageGraph.upstream, target.index),
                imports=union(graphmod.StageGraph.upstream, target.index),
                is_target=True,
                folded=tuple(label for b in builds for label in b.reports if label != target.label),
                platforms=tuple(needs[target.index]) if config.platforms else (),
                extra_tags=not held_back,
                export=export,
            )
            for export in (False, True)
        ]
        first = probes[0]
        if not config.cache.read_only:
            first_export = probes[1]
    pulls: tuple[Command, ...] = ()
    if mode.legacy_builder:
        images = dict.fromkeys(ref for b in builds for ref in b.cache.pull)
        pulls = tuple(Command(("docker", "pull", "--quiet", ref)) for ref in images)
    return BuildPlan(
        config=config,
        mode=mode,
        graph=graph,
        target=target.label,
        builds=tuple(builds),
        pulls=pulls,
        warnings=tuple(warnings),
        branch=naming.branch if config.uses_branch else "",
        fallback_branch=fallback_naming.branch if fallback_naming else None,
        scope=scope,
        graphs=graphs,
        probe=first,
        probe_export=first_export,
    )


def _refuse_default_image(config: Config, why: str) -> None:
    """Raise: without [project].image, the default local name (stagecache/FOLDER) would be a
    Docker Hub repository, public and maybe someone else's, to push to or pull from."""
    line = f'image = "registry.example.com/team/{config.image.rsplit("/", 1)[-1]}"'
    if config.path:
        fix = f"Add the line '{line}' under [project] in {config.path}"
    else:
        fix = f"Create {config.root / 'stagecache.toml'} with the two lines '[project]' and '{line}'"
    raise ConfigError(
        f"{config.source}: {why}, but [project].image is not set, and the default {config.image} would "
        f"be a repository on Docker Hub. {fix}, naming a repository you can push to, then run again."
    )


def _check_stage_settings(config: Config, graph: graphmod.StageGraph) -> None:
    """A ``[stages.NAME]`` table for a stage the Dockerfile does not have does nothing: a typo
    there would silently switch off that stage's gate or tags."""
    from stagecache.syntax import did_you_mean

    labels = [s.label for s in graph.live_stages()]
    for name, _ in config.stages:
        if name not in labels:
            raise UsageError(
                f"{config.source}: table [stages.{name}]: {graph.path} has no stage '{name}'"
                f"{did_you_mean(name, labels)}. Stages: {', '.join(labels)}. Rename or remove the table."
            )


def _secret_arg_warnings(config: Config) -> list[str]:
    out = []
    for name, value in config.build_args:
        if looks_secret(name):
            why = "looks like a secret"
        elif name in config.secret_args:
            why = "is marked secret in [build].secret_args"
        elif credential_url_passwords(value):
            why = "holds a URL with a password"
        else:
            continue
        out.append(
            f"{config.source}: build arg '{name}' {why}. stagecache keeps its value out of what it prints, "
            "but build args are stored in the image (its history and config), where anyone who can pull it "
            "can read them. Use a BuildKit secret instead, which never reaches the image: move it to "
            f"[build.secrets] and read it in the step that needs it with RUN --mount=type=secret,id={name.lower()}."
        )
    return out


def _check_classic(config: Config, graph: graphmod.StageGraph, target: graphmod.Stage) -> None:
    if config.secrets:
        raise UsageError(
            f"{config.source}: cache mode 'classic' uses the legacy builder, which has no build secrets; "
            "remove [build.secrets] or choose a BuildKit cache mode (registry, inline, local)."
        )
    if len(config.platforms) > 1:
        raise UsageError(
            f"{config.source}: cache mode 'classic' builds one platform at a time; "
            "set a single entry in [project].platforms or choose a BuildKit cache mode."
        )
    # The legacy builder runs every stage up to the target, in file order.
    for stage in graph.stages[: target.index + 1]:
        if stage.needs_buildkit is not None:
            line, text = stage.needs_buildkit
            raise UsageError(
                f"{graph.path}:{line}: '{' '.join(text.split())[:80]}' needs BuildKit, and cache mode 'classic' uses "
                "the legacy builder, which cannot run it. Choose a BuildKit cache mode (registry, inline, local)."
            )


def _stage_build(
    config: Config,
    mode: CacheMode,
    naming: Naming,
    fallback: Naming | None,
    stage: graphmod.Stage,
    upstream: tuple[str, ...],
    imports: tuple[str, ...],
    is_target: bool,
    folded: tuple[str, ...],
    no_cache: bool = False,
    platforms: tuple[str, ...] = (),
    extra_tags: bool = True,
    export: bool = True,
) -> StageBuild:
    label = stage.label
    settings = config.stage_settings(label)
    tags = [naming.image_tag(label)]
    if extra_tags:
        tags.extend(settings.tags)
        if is_target:
            tags.extend(config.tags)
    tags = list(dict.fromkeys(tags))
    push = config.push_enabled if settings.push is None else settings.push
    ignore = config.cache.on_export_error == "warn"
    cache = mode.for_stage(label, imports, naming, config.cache.registry_mode, ignore_export_errors=ignore)
    if fallback is not None:
        # Own branch first, then the fallback branch's caches; export only to our own.
        theirs = mode.for_stage(label, imports, fallback, config.cache.registry_mode, ignore_export_errors=ignore)
        cache = replace(
            cache,
            cache_from=dedupe([*cache.cache_from, *theirs.cache_from]),
            legacy_from=tuple(dict.fromkeys([*cache.legacy_from, *theirs.legacy_from])),
            pull=tuple(dict.fromkeys([*cache.pull, *theirs.pull])),
        )
    if config.cache.read_only or not export:
        cache = replace(cache, cache_to=())
        push = False
    target = stage.name  # None only for the unnamed last stage: build the default target.

    argv: list[str] = ["docker"]
    env: tuple[tuple[str, str], ...] = ()
    if mode.legacy_builder:
        argv.append("build")
        env = (("DOCKER_BUILDKIT", "0"),)
    else:
        argv.extend(["buildx", "build"])
        if config.builder:
            argv.extend(["--builder", config.builder])
        argv.append("--progress=rawjson")
    argv.extend(["--file", str(config.dockerfile)])
    if target:
        argv.extend(["--target", target])
    for tag in tags:
        argv.extend(["--tag", tag])
    hidden = set(secret_arg_names(config))
    for name, value in config.build_args:
        if name in hidden:
            # `--build-arg NAME` takes the value from the environment: a secret value is never in
            # an argv, which every user of the machine can read (ps, /proc/PID/cmdline).
            argv.extend(["--build-arg", name])
            env += ((name, value),)
        else:
            argv.extend(["--build-arg", f"{name}={value}"])
    for secret in config.secrets:
        argv.extend(["--secret", f"id={secret.id},{secret.source()}"])
    if config.network:
        argv.extend(["--network", config.network])
    if no_cache:
        argv.append("--no-cache")
    if platforms:
        argv.extend(["--platform", ",".join(platforms)])
    for ref in cache.legacy_from:
        argv.extend(["--cache-from", ref])
    for spec in cache.cache_from:
        argv.extend(["--cache-from", str(spec)])
    for spec in cache.cache_to:
        argv.extend(["--cache-to", str(spec)])
    push_after = push and push_with_docker(config, mode)
    if not mode.legacy_builder:
        if push and not push_after:
            argv.append("--push")
        elif len(config.platforms) <= 1:
            argv.append("--load")
    push_commands = tuple(Command(("docker", "push", "--quiet", tag)) for tag in tags) if push_after else ()
    argv.append(str(config.context))

    local_swap = None
    if any(spec.type == "local" for spec in cache.cache_to):
        local_swap = (naming.local_incoming(label), naming.local_cache(label))
    return StageBuild(
        stage=label,
        index=stage.index,
        target=target,
        upstream=upstream,
        tags=tuple(tags),
        push=push,
        cache=cache,
        build=Command(tuple(argv), env),
        push_commands=push_commands,
        local_swap=local_swap,
        folded=folded,
        platforms=platforms,
    )
