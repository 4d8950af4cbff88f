"""The stage graph of a Dockerfile, resolved the way BuildKit's dockerfile2llb resolves it.

What is followed, with the place in moby/buildkit (frontend/dockerfile/dockerfile2llb/convert.go)
where the rule lives:

- global ``ARG``s (before the first ``FROM``) build the environment of ``FROM`` lines, on top
  of the automatic platform args; build args replace declared defaults; with frontend 1.11+
  an ``ARG NAME`` without a value keeps the value NAME has (``buildMetaArgs``);
- ``FROM`` values and ``--platform`` are expanded with BuildKit's shell lexer
  (stagecache.shell); an empty result, an invalid image reference or an invalid platform
  fails the whole build, for every stage, needed or not (``buildDispatchStates``,
  ``resolveBaseImage``);
- ``FROM NAME`` names a stage defined above it, compared case-sensitively with the
  lower-cased stage names (``addState``), so ``FROM Build`` is an (invalid) image;
- ``COPY --from`` and ``RUN --mount=from=`` resolve, case-insensitively, against the *last*
  stage of that name in the file (``buildStageDependencyGraph`` runs after every stage is
  registered); ``COPY --from`` also takes an index; anything else is an image. Variables are
  refused in both (``toCommand``, ``parseMount``). A source defined at or below the stage
  that uses it fails the build;
- ``ONBUILD`` instructions of a base *stage* run first in each stage built ``FROM`` it, and
  (frontend 1.11+) their ``--from`` stages become dependencies (``initOnBuildTriggers``);
- a target is a stage *name*; unnamed stages cannot be targeted (``resolveTarget``);
- step numbers: a stage's total counts the ``FROM`` of an image, every RUN/COPY/ADD/WORKDIR
  and every ONBUILD trigger; vertices are numbered in the order they are made, and
  ``WORKDIR /`` makes none (``prefixCommand``, ``dispatchWorkdir``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stagecache import frontend as frontends
from stagecache import reference, syntax
from stagecache.errors import DockerfileError
from stagecache.shell import EmptyTrimPattern, Expansion, ShellError
from stagecache.shell import expand as shell_expand

PLATFORM_ARGS = (
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
)
_STAGE_NAME_RE = re.compile(r"^[a-z][a-z0-9-_.]*$")
_PLATFORM_RE = re.compile(r"^[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+){0,2}$")
_INDEX_RE = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction of a stage, and the step BuildKit makes of it."""

    line: int
    text: str
    step: int | None = None
    """The ``i`` of BuildKit's ``[stage i/n]`` vertex for it; None when it makes no vertex
    (ENV, ARG..., ``WORKDIR /``)."""
    onbuild: bool = False
    """An ONBUILD trigger of the base stage, run at the start of this stage."""
    workdir: str | None = field(default=None, compare=False, repr=False)
    """The working directory after this instruction, where known."""
    env: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
    """The variables (ARG and ENV) in effect when the step runs, where known."""
    arg_names: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """The names among them that an ARG of the stage set."""
    context_sources: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """The sources of a COPY or ADD from the build context, expanded."""
    uses: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """The ``--from`` of a COPY and the ``from=`` of RUN mounts, as written."""

    @property
    def keyword(self) -> str:
        """The instruction keyword, upper case (``RUN``, ``COPY``...)."""
        return self.text.split(None, 1)[0].upper() if self.text else ""


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` block.

    ``name`` is lower-cased as BuildKit does, or None for an unnamed stage, which BuildKit
    labels ``stage-N`` in its progress output.
    """

    index: int
    name: str | None
    base: str
    base_stage: int | None
    platform: str | None
    deps: tuple[int, ...]
    images: tuple[str, ...]
    line: int
    instructions: tuple[Instruction, ...] = field(default=())
    total: int = 0
    """The ``n`` of BuildKit's ``[stage i/n]`` names for this stage."""
    onbuild_from: tuple[tuple[int, int], ...] = ()
    """(stage index, line) of stages that ONBUILD triggers copy from, which a frontend older
    than 1.11 does not add to the graph."""
    refusal: str | None = None
    """Why BuildKit fails a build that reaches this stage (a --from of a stage defined below it)."""
    from_text: str = field(default="", compare=False, repr=False)
    """The FROM line as written."""
    final_workdir: str = field(default="/", compare=False, repr=False)
    env: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
    """The working directory and the variables (ARG, ENV) the stage ends with, where known: a
    stage built FROM it starts with them."""
    needs_buildkit: tuple[int, str] | None = None
    """(line, text) of the first instruction the legacy builder cannot run, if any."""

    @property
    def label(self) -> str:
        """The name BuildKit uses for this stage in progress output."""
        return self.name if self.name is not None else f"stage-{self.index}"

    @property
    def steps(self) -> tuple[Instruction, ...]:
        """The instructions that make a ``[stage i/n]`` vertex, the ``FROM`` pull aside."""
        return tuple(i for i in self.instructions if i.step is not None)

    def step(self, number: int) -> Instruction | None:
        """The instruction BuildKit labels ``[stage number/total]``, if any."""
        for i in self.instructions:
            if i.step == number:
                return i
        return None


@dataclass(frozen=True)
class StageGraph:
    """All stages of a Dockerfile, resolved for one target platform, plus the warnings found."""

    path: Path
    stages: tuple[Stage, ...]
    warnings: tuple[str, ...] = ()
    platform: str = ""
    frontend: frontends.Frontend = frontends.ASSUMED
    sensitive: tuple[str, ...] = ()
    """Lines whose meaning depends on the frontend version (see stagecache.frontend): when the
    file names no frontend, bake asks the engine which rules its built-in one follows."""
    _orders: dict[int, tuple[Stage, ...]] = field(default_factory=dict, init=False, compare=False, repr=False)

    def find(self, ref: str) -> Stage | None:
        """The stage with label ``ref``: a name (case-insensitive, the last definition),
        ``stage-N`` or ``N``. For stagecache's own labels, not for user targets."""
        key = ref.lower()
        for stage in reversed(self.stages):
            if stage.name == key:
                return stage
        m = re.fullmatch(r"(?:stage-)?(\d+)", key)
        if m and int(m.group(1)) < len(self.stages):
            return self.stages[int(m.group(1))]
        return None

    def live_stages(self) -> tuple[Stage, ...]:
        """Stages that can be built: a stage replaced by a later one of the same name is not."""
        return tuple(s for s in self.stages if s.name is None or self.find(s.name) is s)

    def targets(self) -> tuple[str, ...]:
        """The names ``--target`` accepts: named stages (their last definition)."""
        return tuple(s.name for s in self.live_stages() if s.name is not None)

    def resolve_target(self, target: str | None) -> Stage:
        """The stage to build: the stage named ``target`` (case-insensitive), or the last stage.

        BuildKit can only target a stage by name; ``stage-N`` and ``N`` are refused even when
        stage N exists (it would build the last stage instead)."""
        if not target:
            return self.stages[-1]
        key = target.lower()
        for stage in reversed(self.stages):
            if stage.name == key:
                return stage
        m = re.fullmatch(r"(?:stage-)?(\d+)", key)
        if m and int(m.group(1)) < len(self.stages) and self.stages[int(m.group(1))].name is None:
            s = self.stages[int(m.group(1))]
            raise DockerfileError(
                f"{self.path}:{s.line}: stage {s.index} has no name, and BuildKit can only build a stage by "
                f"name. Name it ('{s.from_text} AS some-name') and set [project].target (or --target) to that name."
            )
        names = ", ".join(self.targets()) or "(none: no stage has a name)"
        raise DockerfileError(
            f"{self.path}: no stage named '{target}'{syntax.did_you_mean(target, self.targets())}. "
            f"Stages that can be targeted: {names}. Set [project].target (or --target) to one of them."
        )

    def order(self, goal: Stage) -> tuple[Stage, ...]:
        """The stages ``goal`` needs (itself included), dependencies first, ties in file order."""
        if goal.index not in self._orders:
            self._orders[goal.index] = self._order(goal)
        return self._orders[goal.index]

    def _order(self, goal: Stage) -> tuple[Stage, ...]:
        needed: set[int] = set()
        todo = [goal.index]
        while todo:
            i = todo.pop()
            if i not in needed:
                needed.add(i)
                todo.extend(self.stages[i].deps)
        for i in sorted(needed):
            refusal = self.stages[i].refusal
            if refusal:
                raise DockerfileError(refusal)
            for source, line in self.stages[i].onbuild_from:
                if source not in needed:
                    raise DockerfileError(
                        f"{self.path}:{line}: this ONBUILD trigger copies from stage "
                        f"'{self.stages[source].label}', which {self.frontend.description} does not build for it "
                        f"(only Dockerfile frontend 1.11 and later do). Add '# syntax=docker/dockerfile:1' as the "
                        "first line of the Dockerfile, or COPY from that stage in the stage itself."
                    )
        # Dependencies always point to earlier stages (BuildKit requires it, and so does
        # parse()), so Dockerfile order is a topological order.
        return tuple(s for s in self.stages if s.index in needed)

    def build_order(self, target: str | None) -> tuple[Stage, ...]:
        """Stages the target needs (itself included), dependencies first."""
        return self.order(self.resolve_target(target))

    def direct_named(self, stage: Stage) -> tuple[Stage, ...]:
        """The named stages ``stage`` uses directly (its base stage, its ``--from`` stages),
        looking through unnamed ones (they have no cache of their own), in build order."""
        out: list[Stage] = []
        todo = list(stage.deps)  # deps include the base stage
        seen: set[int] = set()
        while todo:
            s = self.stages[todo.pop()]
            if s.index in seen:
                continue
            seen.add(s.index)
            if s.name is not None:
                out.append(s)
            else:
                todo.extend(s.deps)
        return tuple(sorted(out, key=lambda s: s.index))

    def upstream(self, stage: Stage) -> tuple[Stage, ...]:
        """Every stage ``stage`` depends on, directly or not, in build order."""
        return tuple(s for s in self.order(stage) if s.index != stage.index)


def default_platform() -> str:
    """The platform of this machine in OCI form (``linux/amd64``)."""
    import platform  # here: importing it costs every command start-up 2-4 ms

    return normalize_platform(f"linux/{platform.machine()}")


_ARCHES = {"i386": "386", "x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm"}


def normalize_platform(value: str) -> str:
    """A platform as containerd's platforms.Normalize writes it, which is how BuildKit names
    and resolves it: ``linux/arm`` is ``linux/arm/v7``, ``linux/arm64/v8`` is ``linux/arm64``,
    ``linux/x86_64`` is ``linux/amd64``."""
    parts = value.strip().split("/")
    os_name = parts[0].lower()
    os_name = "darwin" if os_name == "macos" else os_name
    arch = parts[1].lower() if len(parts) > 1 else ""
    variant = parts[2].lower() if len(parts) > 2 else ""
    if arch in ("armhf", "armel") and not variant:
        variant = "v7" if arch == "armhf" else "v6"
    arch = _ARCHES.get(arch, arch)
    if arch.startswith("armv") and not variant:  # armv7l, armv6l
        arch, variant = "arm", "v" + arch[4:].rstrip("l")
    if variant in ("5", "6", "7", "8"):
        variant = "v" + variant
    if arch == "arm" and not variant:
        variant = "v7"
    if arch == "arm64" and variant == "v8" or arch == "amd64" and variant == "v1":
        variant = ""
    return "/".join(p for p in (os_name, arch, variant) if p)


def platform_args(target_platform: str, build_platform: str | None = None) -> dict[str, str]:
    """BuildKit's automatic platform ARGs for a target platform and the build platform
    (default: this machine), both normalised as BuildKit normalises them."""
    out: dict[str, str] = {}
    for prefix, raw in (("TARGET", target_platform), ("BUILD", build_platform or default_platform())):
        value = normalize_platform(raw)
        parts = value.split("/")
        out[f"{prefix}PLATFORM"] = value
        out[f"{prefix}OS"] = parts[0]
        out[f"{prefix}ARCH"] = parts[1] if len(parts) > 1 else ""
        out[f"{prefix}VARIANT"] = parts[2] if len(parts) > 2 else ""
    return out


def read_text(path: Path, fix: str = "Set [project].dockerfile to its path (relative to stagecache.toml).") -> str:
    """The Dockerfile's text, or a DockerfileError naming the fix (``fix``: for a missing file)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DockerfileError(f"{path}: Dockerfile not found. {fix}") from None
    except IsADirectoryError:
        raise DockerfileError(
            f"{path}: is a directory, not a Dockerfile. Set [project].dockerfile to the file itself."
        ) from None
    except OSError as exc:
        raise DockerfileError(f"{path}: cannot read the Dockerfile: {exc.strerror or exc}") from None
    if b"\0" in data:
        raise DockerfileError(
            f"{path}: is not a text file (it contains NUL bytes). Point [project].dockerfile at a Dockerfile."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DockerfileError(
            f"{path}: is not UTF-8 text ({exc.reason} at byte {exc.start}). Save it as UTF-8."
        ) from None


def parse(
    path: Path,
    build_args: Mapping[str, str] | None = None,
    target_platform: str | None = None,
    text: str | None = None,
    *,
    frontend: frontends.Frontend | None = None,
    build_platform: str | None = None,
) -> StageGraph:
    """Read a Dockerfile and resolve its stage graph for one target platform.

    ``build_args`` are the ``--build-arg`` values; ``target_platform`` (default: this machine)
    and ``build_platform`` (default: this machine) set the automatic platform args;
    ``frontend`` (default: the one the ``# syntax=`` line names, else the current stable
    one) decides the rules that differ between frontend versions.
    """
    source = syntax.read(path, read_text(path) if text is None else text)
    # The BUILDKIT_SYNTAX build arg names the frontend over the file's own line (dockerfile
    # builder: keySyntaxArg).
    named = (build_args or {}).get("BUILDKIT_SYNTAX") or source.directives.get("syntax")
    fe = frontend or frontends.from_syntax(named)
    resolver = _Resolver(path, source, dict(build_args or {}), fe)
    tp = normalize_platform(target_platform) if target_platform else default_platform()
    graph = resolver.resolve(tp, build_platform)
    return StageGraph(
        path=path,
        stages=graph,
        warnings=tuple(dict.fromkeys(resolver.warnings)),
        platform=tp,
        frontend=fe,
        sensitive=tuple(dict.fromkeys(resolver.sensitive)),
    )


def parse_for_engine(
    path: Path,
    build_args: Mapping[str, str] | None,
    target_platform: str | None,
    probe: Callable[[], bool],
    text: str | None = None,
) -> StageGraph:
    """:func:`parse`, as the engine will read the file.

    When the file names no frontend (no ``# syntax=`` line) and uses an idiom whose meaning
    changed in frontend 1.11 (see stagecache.frontend), ``probe()`` tells whether the
    engine's built-in frontend is 1.11 or later, and the file is read by the rules it follows.
    Otherwise the engine is not asked."""
    text = read_text(path) if text is None else text
    try:
        g = parse(path, build_args, target_platform, text)
    except DockerfileError as exc:
        if not exc.frontend_sensitive or probe():
            raise
        return parse(path, build_args, target_platform, text, frontend=frontends.BUILTIN_OLD)
    if g.frontend.source != "assumed" or not g.sensitive:
        return g
    fe = frontends.BUILTIN_CURRENT if probe() else frontends.BUILTIN_OLD
    return parse(path, build_args, target_platform, text, frontend=fe)


@dataclass
class _Block:
    """A FROM line and the instructions under it, before resolution."""

    start: syntax.Instruction
    commands: list[syntax.Instruction] = field(default_factory=list)


class _Resolver:
    """One resolution of a parsed Dockerfile: meta args, stages, dependencies, steps."""

    def __init__(self, path: Path, source: syntax.Source, build_args: dict[str, str], fe: frontends.Frontend) -> None:
        self.path = path
        self.source = source
        self.args = build_args
        self.fe = fe
        self.warnings: list[str] = []
        self.meta: list[syntax.Instruction] = []
        self.blocks: list[_Block] = []
        for instr in source.instructions:
            if instr.keyword == "FROM":
                self.blocks.append(_Block(instr))
            elif self.blocks:
                self.blocks[-1].commands.append(instr)
            elif instr.keyword == "ARG":
                self.meta.append(instr)
            else:
                raise DockerfileError(
                    f"{path}:{instr.line}: {instr.keyword} before the first FROM: only ARG may come before it "
                    "(BuildKit: no build stage in current context). Move the line below a FROM."
                )
        if not self.blocks:
            raise DockerfileError(f"{path}: the Dockerfile has no FROM instruction, so there is no stage to build.")
        self.sensitive: list[str] = []
        self.global_env: dict[str, str] = {}
        self.erased: dict[str, int] = {}
        """Global ARGs without a value that this (pre-1.11) frontend set to "", and their line."""
        # ARG names declared inside stages, for errors about FROM lines that use them.
        self.stage_args: dict[str, int] = {}
        for block in self.blocks:
            for instr in block.commands:
                if instr.keyword == "ARG":
                    for name, _ in _arg_pairs(self._where(instr), instr.args):
                        self.stage_args.setdefault(name, instr.line)

    def _where(self, instr: syntax.Instruction) -> str:
        return f"{self.path}:{instr.line}"

    def _expand(self, word: str, env: Mapping[str, str], where: str, what: str) -> Expansion:
        self._crash_check(word, env, where, what, skip_unset=False)
        try:
            return shell_expand(word, env, self.source.escape, legacy=not self.fe.modern)
        except ShellError as exc:
            m = re.match(r"([A-Za-z_][A-Za-z0-9_]*): ", str(exc))
            fix = f"Set {m.group(1)} in [build.args], or give the ARG a default." if m else "Fix the expression."
            error = DockerfileError(f"{where}: cannot expand {what} '{word}': {exc}. {fix}")
            # Frontends before 1.11 read some forms differently (${X:%p}): let bake ask the engine.
            error.frontend_sensitive = self.fe.source == "assumed"
            raise error from None

    def _crash_check(self, word: str, env: Mapping[str, str], where: str, what: str, skip_unset: bool) -> None:
        """An empty #/% pattern (``${V%}``, or ``${V#$E}`` with E empty) panics the lexer of
        BuildKit 0.13, and with the engine's built-in frontend dockerd itself goes down (seen on
        this project's engine). Refused for frontends before 1.11; noted for bake otherwise."""
        if "#" not in word and "%" not in word:
            return
        try:
            shell_expand(word, env, self.source.escape, skip_unset=skip_unset, refuse_empty_trim=True, legacy=True)
        except EmptyTrimPattern as exc:
            if self.fe.modern:
                self.sensitive.append(f"{where}: an empty #/% pattern ({exc.message}) in {what}")
                return
            raise _Crash(
                f"{where}: {what} '{word.strip()}' has an empty #/% pattern ({exc.message}), on which "
                f"{self.fe.description} crashes (with BuildKit 0.13 built into dockerd, the daemon goes down with "
                "it). Remove the empty pattern, or add '# syntax=docker/dockerfile:1' as the first line."
            ) from None
        except ShellError:
            pass  # reported where the word is really expanded, if it is

    def meta_env(
        self, target_platform: str, build_platform: str | None, modern: bool
    ) -> tuple[dict[str, str], set[str], dict[str, int]]:
        """The environment of FROM lines: automatic platform args, then the global ARGs, by the
        rules of frontend 1.11+ (``modern``) or of the ones before. Also the declared names,
        and the names an ARG without a value set to "" (before 1.11) with that ARG's line."""
        env = platform_args(target_platform, build_platform)
        for name in PLATFORM_ARGS:
            if name in self.args:
                env[name] = self.args[name]
        declared = set(PLATFORM_ARGS)
        erased: dict[str, int] = {}
        for instr in self.meta:
            where = self._where(instr)
            for name, default in _arg_pairs(where, instr.args):
                declared.add(name)
                if name in self.args:
                    env[name] = self.args[name]
                elif default is None:
                    if not modern:  # before 1.11, an ARG without a value set it to ""
                        env[name] = ""
                        erased[name] = instr.line
                elif modern:
                    try:
                        env[name] = self._expand(default, env, where, f"the default of ARG {name}").value
                    except DockerfileError as exc:
                        # A frontend before 1.11 would have left it empty and gone on.
                        exc.frontend_sensitive = self.fe.source == "assumed"
                        raise
                else:
                    try:  # before 1.11, an error in a global ARG's default left it empty
                        env[name] = self._expand(default, env, where, f"the default of ARG {name}").value
                    except _Crash:
                        raise
                    except DockerfileError:
                        env[name] = ""
        return env, declared, erased

    def resolve(self, target_platform: str, build_platform: str | None) -> tuple[Stage, ...]:
        env, declared, self.erased = self.meta_env(target_platform, build_platform, self.fe.modern)
        self.global_env = env
        heads = [self._head(i, b, env, declared) for i, b in enumerate(self.blocks)]
        if self.fe.source == "assumed" and self.meta:
            self._compare_old_rules(target_platform, build_platform, heads)
        final_names: dict[str, int] = {}
        for i, head in enumerate(heads):
            if head.name is not None:
                final_names[head.name] = i
        stages: list[Stage] = []
        for i, (block, head) in enumerate(zip(self.blocks, heads, strict=True)):
            stages.append(self._stage(i, block, head, heads, final_names, stages))
        self._warn_names(heads)
        return tuple(stages)

    def _compare_old_rules(self, target_platform: str, build_platform: str | None, heads: Sequence[_Head]) -> None:
        """Note the FROM lines a frontend before 1.11 would read differently (see
        stagecache.frontend), so that bake asks the engine which one it has."""
        old, _, _ = self.meta_env(target_platform, build_platform, modern=False)
        for block, head in zip(self.blocks, heads, strict=True):
            instr = block.start
            words = [(instr.args[0], head.base)] + [(p, head.platform or "") for p in instr.flag("platform")[-1:]]
            for word, now in words:
                try:
                    before = shell_expand(word, old, self.source.escape).value
                except ShellError:
                    before = None
                if before != now:
                    self.sensitive.append(
                        f"{self._where(instr)}: '{word}' is '{now}' by frontend 1.11+ and '{before}' by older ones"
                    )

    def _head(self, index: int, block: _Block, env: Mapping[str, str], declared: set[str]) -> _Head:
        instr = block.start
        where = self._where(instr)
        word = instr.args[0]
        name = None
        if len(instr.args) == 3:
            name = instr.args[2].lower()
            if not _STAGE_NAME_RE.match(name):
                raise DockerfileError(
                    f"{where}: invalid name for build stage: '{instr.args[2]}', name can't start with a number or "
                    "contain symbols. Use letters, digits, '-', '_' and '.', starting with a letter "
                    "(stage names are not expanded: 'AS $NAME' is not a variable)."
                )
            if reference.problem(name):
                # BuildKit also looks every stage name up as a named build context, which must
                # parse as an image name (dockerui NamedContext): 'build-' or 'a..b' fail the build.
                raise DockerfileError(
                    f"{where}: invalid context name {name}: invalid reference format. BuildKit needs a stage name "
                    "to be a valid image name too: end it with a letter or digit, and use no two separators in a row."
                )
        exp = self._expand(word, env, where, "FROM")
        undeclared = sorted(v for v in exp.matched | exp.unmatched if v not in declared)
        if not exp.value:
            raise DockerfileError(
                f"{where}: base name ({word}) should not be blank: it expands to nothing. "
                f"{self._arg_fix(exp, undeclared)}"
            )
        plat = instr.flag("platform")
        platform = None
        if plat:
            pexp = self._expand(plat[-1], env, where, "--platform")
            platform = pexp.value
            if not platform:
                raise DockerfileError(
                    f"{where}: empty platform value from expression {plat[-1]}. "
                    f"{self._arg_fix(pexp, sorted(v for v in pexp.unmatched if v not in declared))}"
                )
            if not _PLATFORM_RE.match(platform):
                raise DockerfileError(
                    f"{where}: failed to parse platform {plat[-1]}: '{platform}' is not OS/ARCH[/VARIANT]. "
                    "Fix the --platform value or the ARG it uses."
                )
        erased = sorted(v for v in exp.matched if v in self.erased)
        if erased:
            self.warnings.append(
                f"{where}: FROM uses {', '.join(erased)}, which {self.fe.description} sets to an empty string at "
                f"'ARG {erased[0]}' (line {self.erased[erased[0]]}, no value), so this is '{exp.value}'. Add "
                "'# syntax=docker/dockerfile:1' as the first line for the current rules, or remove that ARG line."
            )
        if undeclared:
            self.warnings.append(
                f"{where}: FROM uses {', '.join(undeclared)}, which no ARG above the first FROM declares, so it is "
                f"empty there (BuildKit: UndefinedArgInFrom). {self._move_hint(undeclared)}".rstrip()
            )
        return _Head(name=name, base=exp.value, platform=platform, expansion=exp, undeclared=tuple(undeclared))

    def _move_hint(self, names: Sequence[str]) -> str:
        inside = [n for n in names if n in self.stage_args]
        if inside:
            n = inside[0]
            return (
                f"ARG {n} is declared at line {self.stage_args[n]}, inside a stage, where FROM lines cannot see it: "
                f"move 'ARG {n}' above the first FROM (setting it in [build.args] does not help)."
            )
        return f"Declare 'ARG {names[0]}' above the first FROM."

    def _arg_fix(self, exp: Expansion, undeclared: Sequence[str]) -> str:
        if undeclared:
            return self._move_hint(undeclared)
        used = sorted(exp.matched | exp.unmatched)
        erased = [n for n in used if n in self.erased]
        if erased:
            n = erased[0]
            return (
                f"'ARG {n}' at line {self.erased[n]} has no value, and {self.fe.description} sets {n} to an empty "
                "string there (frontend 1.11 and later keep its value). Remove that line, or add "
                "'# syntax=docker/dockerfile:1' as the first line to use the current frontend."
            )
        if used:
            names = ", ".join(used)
            return f"Set {names} in [build.args], or give the ARG a default."
        return "Fix the FROM line."

    def _stage(
        self,
        index: int,
        block: _Block,
        head: _Head,
        heads: Sequence[_Head],
        final_names: Mapping[str, int],
        done: Sequence[Stage],
    ) -> Stage:
        where = self._where(block.start)
        # FROM NAME: the latest stage of that name *above*, compared case-sensitively (addState).
        base_stage = None
        for j in range(index - 1, -1, -1):
            if heads[j].name == head.base:
                base_stage = j
                break
        images: list[str] = []
        deps: list[int] = []
        if base_stage is not None:
            deps.append(base_stage)
        elif head.base != "scratch":
            self._check_image(where, head.base, "FROM", heads, head)
            images.append(head.base)
        label = head.name or f"stage-{index}"
        commands: list[tuple[syntax.Instruction, bool]] = []
        onbuild_from: list[tuple[int, int]] = []
        if base_stage is not None:
            for instr in self.blocks[base_stage].commands:
                if instr.keyword == "ONBUILD" and instr.trigger is not None:
                    commands.append((instr.trigger, True))
                    # Frontends before 1.11 number these steps differently (see _steps).
                    self.sensitive.append(f"{self._where(instr)}: ONBUILD {instr.trigger.keyword} in a base stage")
        commands.extend((instr, False) for instr in block.commands)
        refusal = None
        for instr, onbuild in commands:
            for ref, kind in _sources(instr):
                cwhere = self._where(instr)
                try:
                    dep = self._source(cwhere, ref, kind, index, label, heads, final_names)
                except _Refusal as exc:
                    refusal = refusal or str(exc)
                    continue
                if dep is None:
                    if ref == "scratch":
                        continue  # an empty filesystem, not an image to pull
                    what = "COPY --from" if kind == "copy" else "RUN --mount from"
                    self._check_image(cwhere, ref, what, heads, None)
                    if ref not in images:
                        images.append(ref)
                    continue
                if onbuild and not self.fe.modern:
                    onbuild_from.append((dep, instr.line))
                elif dep not in deps:
                    deps.append(dep)
        instructions, total, (workdir, env) = self._steps(head, base_stage, commands, done)
        blocker = syntax.buildkit_only([block.start, *block.commands])
        return Stage(
            index=index,
            name=head.name,
            base=head.base,
            base_stage=base_stage,
            platform=head.platform,
            deps=tuple(deps),
            images=tuple(images),
            line=block.start.line,
            instructions=instructions,
            total=total,
            onbuild_from=tuple(onbuild_from),
            refusal=refusal,
            from_text=" ".join(block.start.text.split()),
            final_workdir=workdir,
            env=tuple(env.items()),
            needs_buildkit=(blocker.line, blocker.text) if blocker is not None else None,
        )

    def _source(
        self,
        where: str,
        ref: str,
        kind: str,
        index: int,
        label: str,
        heads: Sequence[_Head],
        final_names: Mapping[str, int],
    ) -> int | None:
        """Resolve a ``--from`` value to a stage index, or None for an image."""
        if kind == "copy":
            try:
                plain = shell_expand(ref, {}, self.source.escape).value
            except ShellError:
                plain = None
            if plain != ref:
                raise DockerfileError(
                    f"{where}: variable expansion is not supported for --from ('{ref}'). Define a new stage with "
                    "FROM using an ARG from the global scope (ARG SRC=...; FROM ${SRC} AS src) and copy from it."
                )
        elif re.search(r"\$.", ref):
            raise DockerfileError(
                f"{where}: 'from' doesn't support variable expansion ('{ref}'), define an alias stage instead "
                "(ARG SRC=...; FROM ${SRC} AS src) and mount from it."
            )
        dep: int | None
        if kind == "copy" and _INDEX_RE.match(ref):
            dep = int(ref)
            if dep < 0 or dep >= len(heads):
                raise DockerfileError(f"{where}: invalid stage index {ref}: the Dockerfile has {len(heads)} stages.")
        else:
            dep = final_names.get(ref.lower())
        if dep is None:
            return None
        src = heads[dep].name or f"stage-{dep}"
        if dep == index:
            raise DockerfileError(
                f"{where}: stage '{label}' uses itself (--from={ref}): circular dependency. Copy from another stage."
            )
        if dep > index:
            # BuildKit says so when it dispatches this stage: only for a target that needs it.
            raise _Refusal(
                f"{where}: cannot copy from stage '{src}', it needs to be defined before current stage '{label}'. "
                f"Move stage '{src}' above it."
            )
        return dep

    def _check_image(self, where: str, ref: str, what: str, heads: Sequence[_Head], head: _Head | None) -> None:
        problem = reference.problem(ref)
        if not problem and not reference.is_bare_name(ref):
            return
        names = [h.name for h in heads if h.name]
        near = ref.lower() if ref.lower() in names else syntax.closest(ref, names)
        if problem:
            if near:
                hint = f"Did you mean stage '{near}'? FROM matches stage names exactly, and they are lower case."
            elif head is not None and (head.expansion.matched or head.expansion.unmatched):
                hint = self._arg_fix(head.expansion, head.undeclared)
            else:
                hint = "Fix the name."
            raise DockerfileError(
                f"{where}: {what} '{ref}' is not a stage and not a valid image reference ({problem}). {hint}"
            )
        if near == ref:
            line = next(self.blocks[i].start.line for i, h in enumerate(heads) if h.name == ref)
            self.warnings.append(
                f"{where}: {what} '{ref}' is the image '{ref}', not the stage '{ref}' defined at line {line}: a FROM "
                "can only use stages defined above it. Move that stage up if you meant it."
            )
        elif near:
            self.warnings.append(
                f"{where}: {what} '{ref}' is not a stage, so BuildKit will pull the image '{ref}'. "
                f"Did you mean stage '{near}'?"
            )

    def _steps(
        self,
        head: _Head,
        base_stage: int | None,
        commands: Sequence[tuple[syntax.Instruction, bool]],
        done: Sequence[Stage],
    ) -> tuple[tuple[Instruction, ...], int, tuple[str, dict[str, str]]]:
        """Number the vertices as BuildKit's prefixCommand does; also the working directory
        and variables the stage ends with.

        The stage's variables are followed in order (ARG: build arg, default or global value;
        ENV: the last value wins; both inherited from a base stage), so that a WORKDIR that
        resolves to "/" makes no vertex, as in BuildKit. An image's own ENV and WORKDIR are
        unknown here: the working directory of an image is taken as "/"."""
        pulls = base_stage is None and head.base != "scratch"
        # Frontends before 1.11 do not count a base stage's ONBUILD triggers in the total
        # (seen on BuildKit 0.13: "[child 1/2] RUN trigger", "[child 2/2] ...", "[child 3/2] ...").
        counted = [c for c, ob in commands if (ob and self.fe.modern) or (not ob and c.keyword in syntax.STEP_KEYWORDS)]
        total = int(pulls) + len(counted)
        number = int(pulls)
        if base_stage is None:
            workdir: str = "/"
            env: dict[str, str] = {}
        else:
            workdir, env = done[base_stage].final_workdir, dict(done[base_stage].env)
        out: list[Instruction] = []
        arg_names: set[str] = set()
        for c, onbuild in commands:
            where = self._where(c)
            self._crash_check(_words(c), env, where, c.keyword, skip_unset=c.keyword == "RUN")
            step = None
            if c.keyword == "ARG":
                for name, default in _arg_pairs(where, c.args):
                    arg_names.add(name)
                    value = self.args.get(name)
                    if value is None and default is not None:
                        value = _quiet_expand(default, env, self.source.escape)
                    if value is None:
                        value = self.global_env.get(name)
                    if value is not None:
                        env[name] = value
            elif c.keyword == "ENV":
                for name, raw in zip(c.args[::2], c.args[1::2], strict=False):
                    env[name] = _quiet_expand(raw, env, self.source.escape) or ""
            elif c.keyword in ("RUN", "COPY", "ADD"):
                step = 0
            elif c.keyword == "WORKDIR":
                path = _quiet_expand(c.args[0], env, self.source.escape)
                path = c.args[0] if path is None else path
                # system.NormalizeWorkdir: a relative path is joined to the current one and
                # cleaned; an absolute one is taken as written.
                workdir = path if path.startswith("/") else posixpath.normpath(posixpath.join(workdir, path))
                step = 0 if workdir != "/" else None
            if step is not None and total > 0:
                number += 1
                step = number
            elif step is not None:
                step = None  # with a total of 0, BuildKit writes no [stage i/n] prefix at all
            text = f"ONBUILD {c.text}" if onbuild and self.fe.modern else c.text
            sources: tuple[str, ...] = ()
            if c.keyword in ("COPY", "ADD") and not c.flag("from") and not c.heredoc:
                sources = tuple(_quiet_expand(w, env, self.source.escape) or w for w in c.args[:-1])
            elif c.keyword == "RUN":
                sources = tuple(_quiet_expand(w, env, self.source.escape) or w for w in _bind_sources(c))
            out.append(
                Instruction(
                    c.line,
                    text,
                    step=step,
                    onbuild=onbuild,
                    workdir=workdir,
                    env=tuple(sorted(env.items())),
                    arg_names=tuple(sorted(arg_names & env.keys())),
                    context_sources=sources,
                    uses=tuple(ref for ref, _ in _sources(c)),
                )
            )
        return tuple(out), total, (workdir, env)

    def _warn_names(self, heads: Sequence[_Head]) -> None:
        first: dict[str, int] = {}
        for head, block in zip(heads, self.blocks, strict=True):
            where = self._where(block.start)
            raw = block.start.args[2] if len(block.start.args) == 3 else None
            if raw is not None and raw != raw.lower():
                self.warnings.append(
                    f"{where}: stage name '{raw}' should be lowercase; BuildKit treats it as '{raw.lower()}' "
                    "(StageNameCasing)"
                )
            if head.name is None:
                continue
            if head.name in first:
                self.warnings.append(
                    f"{where}: stage name '{head.name}' is already used at line {first[head.name]}; BuildKit uses this "
                    "later definition for --target and --from (DuplicateStageName)"
                )
            else:
                first[head.name] = block.start.line


class _Crash(DockerfileError):
    """An expression that crashes the engine's frontend (see _Resolver._crash_check)."""


class _Refusal(Exception):
    """A problem BuildKit reports only when it builds the stage (see Stage.refusal)."""


@dataclass(frozen=True)
class _Head:
    """A resolved FROM line."""

    name: str | None
    base: str
    platform: str | None
    expansion: Expansion
    undeclared: tuple[str, ...]


def _arg_pairs(where: str, values: Sequence[str]) -> list[tuple[str, str | None]]:
    """``ARG`` words as (name, default or None). The default is expanded later, with quotes."""
    pairs = []
    for v in values:
        name, eq, default = v.partition("=")
        if not name:
            raise DockerfileError(f"{where}: ARG names can not be blank ('{v}').")
        pairs.append((name, default if eq else None))
    return pairs


def _sources(instr: syntax.Instruction) -> list[tuple[str, str]]:
    """The ``--from`` values of a COPY (``copy``) or of RUN mounts (``mount``)."""
    if instr.keyword == "COPY":
        return [(v, "copy") for v in instr.flag("from") if v]
    if instr.keyword == "RUN":
        return [(ref, "mount") for spec in instr.flag("mount") if (ref := syntax.mount_source(spec))]
    return []


def _bind_sources(instr: syntax.Instruction) -> list[str]:
    """The build-context folders or files a RUN bind-mounts (``--mount=type=bind`` with no
    ``from=``: ``source`` in the context, ``.`` by default)."""
    out = []
    for spec in instr.flag("mount"):
        options = syntax.mount_options(spec)
        if options.get("type", "bind").lower() == "bind" and not options.get("from"):
            out.append(options.get("source") or options.get("src") or ".")
    return out


def _words(instr: syntax.Instruction) -> str:
    """The text BuildKit expands for an instruction (everything after the keyword)."""
    return instr.text.split(None, 1)[1] if " " in instr.text.strip() else ""


def _quiet_expand(word: str, env: Mapping[str, str], escape: str) -> str | None:
    """Best-effort expansion for step numbering: None when the word does not expand."""
    try:
        return shell_expand(word, env, escape).value
    except ShellError:
        return None
