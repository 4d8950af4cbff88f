"""The stage graph of a Dockerfile.

Parsed with the ``dockerfile`` package (BuildKit's own Go parser), then
resolved the way BuildKit's dockerfile2llb resolves it: stage names are
case-insensitive, a later stage with the same name replaces the earlier one,
``FROM`` and ``--from`` may only name stages defined earlier, global ``ARG``s
expand in ``FROM`` lines, build args override their defaults, and the builtin
platform args come from the build platform.
"""

from __future__ import annotations

import csv
import platform as _platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stagecache.errors import DockerfileError

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


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction of a stage, as BuildKit would label its step."""

    line: int
    text: str

    @property
    def keyword(self) -> str:
        """The instruction keyword, upper case (``RUN``, ``COPY``...)."""
        return self.text.split(None, 1)[0].upper()


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` block.

    ``name`` is lower-cased as BuildKit does, or None for an unnamed stage,
    which BuildKit labels ``stage-N`` in its progress output.
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

    @property
    def label(self) -> str:
        """The name BuildKit uses for this stage in progress output and ``--target``."""
        return self.name if self.name is not None else f"stage-{self.index}"


@dataclass(frozen=True)
class StageGraph:
    """All stages of a Dockerfile, plus the warnings found while resolving them."""

    path: Path
    stages: tuple[Stage, ...]
    warnings: tuple[str, ...] = ()
    syntax: str | None = None

    def find(self, ref: str) -> Stage | None:
        """The stage named ``ref`` (case-insensitive), ``stage-N``, or index ``N``."""
        key = ref.lower()
        for stage in reversed(self.stages):
            if stage.name == key:
                return stage
        m = re.fullmatch(r"(?:stage-)?(\d+)", key)
        if m and int(m.group(1)) < len(self.stages):
            return self.stages[int(m.group(1))]
        return None

    def live_stages(self) -> tuple[Stage, ...]:
        """Stages that can be targeted: a stage replaced by a later one of the same name is not."""
        live = []
        for stage in self.stages:
            if stage.name is None or self.find(stage.name) is stage:
                live.append(stage)
        return tuple(live)

    def resolve_target(self, target: str | None) -> Stage:
        """The stage to build: ``target`` or, when empty, the last stage."""
        if not target:
            return self.stages[-1]
        stage = self.find(target)
        if stage is None:
            names = ", ".join(s.label for s in self.live_stages())
            raise DockerfileError(
                f"{self.path}: no stage named '{target}'. Available stages: {names}. "
                "Set [project].target (or --target) to one of them."
            )
        return stage

    def build_order(self, target: str | None) -> tuple[Stage, ...]:
        """Stages the target needs (itself included), dependencies first.

        Ties are broken by Dockerfile order, so the order is stable.
        """
        goal = self.resolve_target(target)
        needed: set[int] = set()
        todo = [goal.index]
        while todo:
            i = todo.pop()
            if i not in needed:
                needed.add(i)
                todo.extend(self.stages[i].deps)
        # Dependencies always point to earlier stages (BuildKit enforces it, and so
        # does parse()), so Dockerfile order is already a topological order.
        return tuple(s for s in self.stages if s.index in needed)

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
        # Dockerfile order is a topological order (see build_order), so it is build order.
        return tuple(sorted(out, key=lambda s: s.index))

    def upstream(self, stage: Stage) -> tuple[Stage, ...]:
        """Every stage ``stage`` depends on, directly or not, in build order."""
        order = self.build_order(str(stage.index))
        return tuple(s for s in order if s.index != stage.index)


def default_platform() -> str:
    """The platform of this machine in OCI form (``linux/amd64``)."""
    machine = _platform.machine().lower()
    arch = {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "armv7l": "arm/v7",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
        "riscv64": "riscv64",
    }.get(machine, machine)
    return f"linux/{arch}"


def platform_args(target_platform: str, build_platform: str | None = None) -> dict[str, str]:
    """BuildKit's automatic platform ARGs for a target and build platform."""
    out: dict[str, str] = {}
    for prefix, value in (("TARGET", target_platform), ("BUILD", build_platform or target_platform)):
        parts = value.split("/")
        out[f"{prefix}PLATFORM"] = value
        out[f"{prefix}OS"] = parts[0]
        out[f"{prefix}ARCH"] = parts[1] if len(parts) > 1 else ""
        out[f"{prefix}VARIANT"] = parts[2] if len(parts) > 2 else ""
    return out


_VAR_RE = re.compile(
    r"\\(?P<esc>.)"
    r"|\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+?])(?P<word>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))",
    re.DOTALL,
)


def expand(word: str, env: Mapping[str, str], where: str = "") -> str:
    """Expand ``$X``, ``${X}``, ``${X:-d}``, ``${X-d}``, ``${X:+a}``, ``${X+a}``
    and ``${X:?msg}`` the way BuildKit's shell lexer does for ``FROM`` and ``--from``.
    An undefined variable expands to nothing."""

    def sub(m: re.Match[str]) -> str:
        if m.group("esc") is not None:
            ch = m.group("esc")
            return ch if ch == "$" else "\\" + ch
        name = m.group("plain") or m.group("braced")
        op = m.group("op")
        value = env.get(name)
        if not op:
            return value or ""
        word_value = expand(m.group("word") or "", env, where)
        is_set = value is not None and (value != "" or not op.startswith(":"))
        if op.endswith("-"):
            return value if is_set else word_value  # type: ignore[return-value]
        if op.endswith("+"):
            return word_value if is_set else ""
        if not is_set:
            raise DockerfileError(
                f"{where}: ${{{name}}} is not set: {word_value or 'required by the Dockerfile'}. "
                f"Set it in [build.args] or give the ARG a default."
            )
        return value  # type: ignore[return-value]

    return _VAR_RE.sub(sub, word)


def _flag_value(flags: Sequence[str], name: str) -> list[str]:
    prefix = f"--{name}="
    return [f[len(prefix) :] for f in flags if f.lower().startswith(prefix)]


def _mount_from(spec: str) -> str | None:
    for row in csv.reader([spec]):
        for item in row:
            key, _, value = item.partition("=")
            if key.strip().lower() == "from" and value:
                return value.strip()
    return None


def _arg_pairs(values: Sequence[str]) -> list[tuple[str, str | None]]:
    pairs = []
    for v in values:
        name, eq, default = v.partition("=")
        default_value: str | None = default if eq else None
        if (
            default_value is not None
            and len(default_value) >= 2
            and default_value[0] == default_value[-1]
            and default_value[0] in "\"'"
        ):
            default_value = default_value[1:-1]
        pairs.append((name, default_value))
    return pairs


_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")


def _directives(text: str) -> dict[str, str]:
    """Parser directives at the top of the file (``# syntax=``, ``# escape=``...)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = _DIRECTIVE_RE.match(line.strip())
        if not m:
            break
        found[m.group(1).lower()] = m.group(2)
    return found


def parse(
    path: Path,
    build_args: Mapping[str, str] | None = None,
    target_platform: str | None = None,
    text: str | None = None,
) -> StageGraph:
    """Read a Dockerfile and resolve its stage graph.

    ``build_args`` override ``ARG`` defaults; ``target_platform`` (default: this
    machine) sets the builtin ``TARGET*``/``BUILD*`` args.
    """
    import dockerfile  # BuildKit's parser, compiled; imported here to keep start-up fast

    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DockerfileError(
                f"{path}: Dockerfile not found. Set [project].dockerfile to its path (relative to stagecache.toml)."
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DockerfileError(f"{path}: cannot read the Dockerfile: {exc}") from None
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        raise DockerfileError(f"{path}: the Dockerfile does not parse: {_go_error(exc)}") from None

    args = dict(build_args or {})
    env_platform = platform_args(target_platform or default_platform())
    global_env: dict[str, str] = dict(env_platform)
    warnings: list[str] = []
    raw: list[dict] = []
    cur: dict | None = None

    for cmd in commands:
        where = f"{path}:{cmd.start_line}"
        if cmd.cmd.upper() == "FROM":
            flags = cmd.flags
            value = list(cmd.value)
            name = None
            if len(value) == 3 and value[1].upper() == "AS":
                name = value[2]
            elif len(value) != 1:
                raise DockerfileError(f"{where}: FROM takes an image and an optional 'AS name'")
            base = expand(value[0], global_env, where)
            if not base:
                raise DockerfileError(
                    f"{where}: FROM '{value[0]}' expands to an empty image name; set the ARG it uses."
                )
            plat = _flag_value(flags, "platform")
            cur = {
                "name": None if name is None else expand(name, global_env, where),
                "base": base,
                "platform": expand(plat[-1], global_env, where) if plat else None,
                "line": cmd.start_line,
                "from_refs": [],
                "instructions": [],
                "env": dict(global_env),
            }
            if cur["name"] is not None:
                if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_.-]*", cur["name"]):
                    raise DockerfileError(
                        f"{where}: invalid stage name '{cur['name']}': names start with a letter and "
                        "contain only letters, digits, '-', '_' and '.'"
                    )
                if cur["name"] != cur["name"].lower():
                    warnings.append(
                        f"{where}: stage name '{cur['name']}' should be lowercase; BuildKit treats it as "
                        f"'{cur['name'].lower()}' (StageNameCasing)"
                    )
                cur["name"] = cur["name"].lower()
            raw.append(cur)
            continue
        if cur is None:
            if cmd.cmd.upper() == "ARG":
                for name, default in _arg_pairs(cmd.value):
                    if name in args:
                        global_env[name] = args[name]
                    elif default is not None:
                        global_env[name] = expand(default, global_env, where)
                    else:
                        global_env.pop(name, None)
            continue
        keyword = cmd.cmd.upper()
        cur["instructions"].append(Instruction(cmd.start_line, cmd.original.strip()))
        if keyword == "ARG":
            for name, default in _arg_pairs(cmd.value):
                if name in args:
                    cur["env"][name] = args[name]
                elif default is not None:
                    cur["env"][name] = expand(default, cur["env"], where)
                elif name in global_env:
                    cur["env"][name] = global_env[name]
        elif keyword in ("COPY", "ADD"):
            for ref in _flag_value(cmd.flags, "from"):
                cur["from_refs"].append((expand(ref, cur["env"], where), where))
        elif keyword == "RUN":
            for spec in _flag_value(cmd.flags, "mount"):
                ref = _mount_from(spec)
                if ref:
                    cur["from_refs"].append((expand(ref, cur["env"], where), where))

    if not raw:
        raise DockerfileError(f"{path}: the Dockerfile has no FROM instruction, so there is no stage to build.")

    stages: list[Stage] = []
    by_name: dict[str, int] = {}
    for i, st in enumerate(raw):
        where = f"{path}:{st['line']}"
        deps: list[int] = []
        images: list[str] = []
        base_stage = by_name.get(st["base"].lower())
        if base_stage is not None:
            deps.append(base_stage)
        elif st["base"].lower() != "scratch":
            images.append(st["base"])
        for ref, ref_where in st["from_refs"]:
            dep = _stage_ref(ref, by_name, i, raw, ref_where, st)
            if dep is None:
                if ref not in images:
                    images.append(ref)
            elif dep not in deps:
                deps.append(dep)
        if st["name"] is not None:
            if st["name"] in by_name:
                first = raw[by_name[st["name"]]]["line"]
                warnings.append(
                    f"{where}: stage name '{st['name']}' is already used at line {first}; "
                    "BuildKit uses this later definition (DuplicateStageName)"
                )
            by_name[st["name"]] = i
        stages.append(
            Stage(
                index=i,
                name=st["name"],
                base=st["base"],
                base_stage=base_stage,
                platform=st["platform"],
                deps=tuple(deps),
                images=tuple(images),
                line=st["line"],
                instructions=tuple(st["instructions"]),
            )
        )
    return StageGraph(path=path, stages=tuple(stages), warnings=tuple(warnings), syntax=_directives(text).get("syntax"))


def _stage_ref(ref: str, by_name: Mapping[str, int], current: int, raw: list[dict], where: str, st: dict) -> int | None:
    """Resolve a ``--from`` value to an earlier stage index, or None for an image."""
    key = ref.lower()
    if key.isdigit():
        index = int(key)
        if index >= current:
            raise DockerfileError(
                f"{where}: --from={ref} refers to stage {index}, which is not defined before this "
                f"stage (stage {current}); a stage can only use stages above it."
            )
        return index
    if key in by_name:
        return by_name[key]
    later = [j for j in range(current, len(raw)) if raw[j]["name"] == key]
    if later:
        label = st["name"] or f"stage-{current}"
        raise DockerfileError(
            f"{where}: cannot copy from stage '{ref}', it needs to be defined before current stage "
            f"'{label}'. Move stage '{ref}' above it."
        )
    return None


def _go_error(exc: Exception) -> str:
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else exc.__class__.__name__
