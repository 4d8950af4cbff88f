"""Reading a Dockerfile into checked instructions, before any meaning is given to them.

The text is split by the ``dockerfile`` package, which is BuildKit's own Go parser
(line continuations, heredocs, JSON forms, ``# escape=``). That parser accepts any
keyword and any flag; BuildKit's second pass (``instructions.Parse`` in
frontend/dockerfile/instructions/parse.go) is what refuses ``RUNN``, ``COPY`` with one
argument, or ``ADD --from``. This module is that second pass, so such a file is refused
by ``plan`` with its line and a suggestion, not by the first build with exit 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stagecache.errors import DockerfileError

# Flags each instruction takes in some released Dockerfile frontend (instructions/parse.go and
# the commands_run*.go hooks). A flag no frontend knows is refused, as BuildKit refuses it
# ("unknown flag: from"); one that only newer or labs frontends know is left to BuildKit.
FLAGS: dict[str, frozenset[str]] = {
    "FROM": frozenset({"platform"}),
    "COPY": frozenset({"from", "chown", "chmod", "link", "parents", "exclude"}),
    "ADD": frozenset({"chown", "chmod", "link", "keep-git-dir", "checksum", "exclude", "unpack"}),
    "RUN": frozenset({"mount", "network", "security", "device"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
}
KEYWORDS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
STEP_KEYWORDS = frozenset({"ADD", "COPY", "RUN", "WORKDIR"})
"""Instructions that BuildKit counts in a stage's ``[stage i/n]`` total (``cmdTotal``)."""

_EXACTLY_ONE = frozenset({"WORKDIR", "USER", "MAINTAINER", "STOPSIGNAL"})
_AT_LEAST_ONE = frozenset({"ARG", "ENV", "LABEL", "EXPOSE", "VOLUME", "ONBUILD", "HEALTHCHECK"})
_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")


@dataclass(frozen=True)
class Instruction:
    """One instruction as written: keyword (upper case), its flags and arguments."""

    keyword: str
    line: int
    text: str
    args: tuple[str, ...] = ()
    flags: tuple[tuple[str, str | None], ...] = ()
    heredoc: bool = False
    json: bool = False
    trigger: Instruction | None = field(default=None, compare=False)
    """For ``ONBUILD``: the instruction it registers."""

    def flag(self, name: str) -> list[str]:
        """Every value given to ``--name`` (``[]`` when absent; a bare flag gives ``""``)."""
        return [value or "" for key, value in self.flags if key == name]


@dataclass(frozen=True)
class Source:
    """A Dockerfile's parser directives and instructions."""

    directives: dict[str, str]
    instructions: tuple[Instruction, ...]

    @property
    def escape(self) -> str:
        """The escape token (``# escape=``): ``\\`` unless set to a backtick."""
        return "`" if self.directives.get("escape") == "`" else "\\"


_DIRECTIVES = frozenset({"syntax", "escape", "check"})


def directives(text: str) -> dict[str, str]:
    """Parser directives at the top of the file (``# syntax=``, ``# escape=``, ``# check=``),
    read as BuildKit's parser/directives.go reads them: a byte-order mark and a ``#!`` first
    line are skipped; directives are ``#key=value`` lines at the very start, and the first line
    that is not one, or names another key, ends them (so ``# foo=bar`` hides what follows)."""
    found: dict[str, str] = {}
    lines = text.removeprefix("\ufeff").splitlines()
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    for line in lines:
        m = _DIRECTIVE_RE.match(line.rstrip())
        if not m or m.group(1).lower() not in _DIRECTIVES:
            break
        found.setdefault(m.group(1).lower(), m.group(2))
    return found


def read(path: Path, text: str) -> Source:
    """Parse ``text`` (the content of ``path``) and check every instruction as BuildKit would."""
    import dockerfile  # BuildKit's parser, compiled; imported here to keep start-up fast

    if not text.strip():
        raise DockerfileError(f"{path}: the Dockerfile is empty. Add a FROM instruction.")
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        raise DockerfileError(f"{path}: the Dockerfile does not parse: {_go_error(exc)}") from None
    lines = text.splitlines()
    return Source(directives(text), tuple(_instruction(path, c, lines) for c in commands))


def _instruction(path: Path, cmd: object, lines: Sequence[str] = ()) -> Instruction:
    keyword = str(getattr(cmd, "cmd", "")).upper()
    line = int(getattr(cmd, "start_line", 0))
    original = str(getattr(cmd, "original", "")).strip()
    where = f"{path}:{line}"
    if keyword not in KEYWORDS:
        raise DockerfileError(
            f"{where}: unknown instruction {keyword}{did_you_mean(keyword, KEYWORDS)}. "
            "Fix the instruction name (see https://docs.docker.com/reference/dockerfile/)."
        )
    flags = tuple(_split_flag(f) for f in getattr(cmd, "flags", ()))
    args = tuple(str(v) for v in getattr(cmd, "value", ()))
    if args == ("",):
        args = ()
    instr = Instruction(
        keyword=keyword,
        line=line,
        text=original,
        args=args,
        flags=flags,
        heredoc=bool(getattr(cmd, "heredocs", ())),
        json=bool(getattr(cmd, "json", False)),
    )
    if keyword == "ONBUILD":
        # The parser keeps no heredoc of an ONBUILD: take its lines from the file, as BuildKit
        # appends the heredoc's content to the trigger (parseOnBuild).
        end = int(getattr(cmd, "end_line", line))
        if end > line and lines:
            original = "\n".join(lines[line - 1 : end])
        trigger = _trigger(path, line, original, getattr(cmd, "sub_cmd", ""))
        instr = Instruction(**{**instr.__dict__, "trigger": trigger})
    _check(where, instr)
    return instr


def _trigger(path: Path, line: int, original: str, sub: object) -> Instruction:
    """The instruction an ``ONBUILD`` registers, parsed again as BuildKit does
    (``initOnBuildTriggers`` parses the expression as a Dockerfile of its own)."""
    import dockerfile

    where = f"{path}:{line}"
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", original, count=1)
    keyword = str(sub or "").upper()
    if keyword == "ONBUILD":
        raise DockerfileError(f"{where}: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed. Remove one ONBUILD.")
    if keyword in ("FROM", "MAINTAINER"):
        raise DockerfileError(f"{where}: {keyword} isn't allowed as an ONBUILD trigger.")
    try:
        parsed = dockerfile.parse_string(expression + "\n")
    except dockerfile.GoParseError as exc:
        raise DockerfileError(f"{where}: the ONBUILD trigger does not parse: {_go_error(exc)}") from None
    if len(parsed) != 1:
        raise DockerfileError(f"{where}: an ONBUILD trigger must be a single instruction.")
    inner = _instruction(path, parsed[0])
    return Instruction(**{**inner.__dict__, "line": line})


def _split_flag(raw: str) -> tuple[str, str | None]:
    # Flag names are case-sensitive in BuildKit (bflag.go): --FROM is an unknown flag.
    name, eq, value = raw[2:].partition("=") if raw.startswith("--") else (raw, "", "")
    return name, (value if eq else None)


def _check(where: str, instr: Instruction) -> None:
    """BuildKit's argument and flag checks (instructions/parse.go, bflag.go)."""
    k, n = instr.keyword, len(instr.args)
    allowed = FLAGS.get(k, frozenset())
    seen: set[str] = set()
    for name, _value in instr.flags:
        if name not in allowed:
            hint = did_you_mean(name, allowed, prefix="--")
            if k == "ADD" and name == "from":
                hint = "; ADD has no --from: use COPY --from=STAGE"
            raise DockerfileError(f"{where}: unknown flag --{name} for {k}{hint}. Remove or fix the flag.")
        if name in seen and name not in ("mount", "exclude", "device"):
            raise DockerfileError(f"{where}: duplicate flag --{name} for {k}. Give it once.")
        seen.add(name)
    if k in ("COPY", "ADD") and n < 2:
        raise DockerfileError(
            f"{where}: {k} requires at least two arguments, but only {n} {'was' if n == 1 else 'were'} provided. "
            f"Destination could not be determined: write {k} SOURCE... DEST."
        )
    if k in _EXACTLY_ONE and n != 1:
        raise DockerfileError(f"{where}: {k} requires exactly one argument.")
    if k in _AT_LEAST_ONE and n == 0:
        raise DockerfileError(f"{where}: {k} requires at least one argument.")
    if k == "FROM" and not (n == 1 or (n == 3 and instr.args[1].lower() == "as")):
        raise DockerfileError(f"{where}: FROM requires either one or three arguments: FROM IMAGE [AS NAME].")
    if k == "SHELL" and (n == 0 or not instr.json):
        raise DockerfileError(
            f'{where}: SHELL requires the JSON form with at least one argument, e.g. SHELL ["/bin/sh", "-c"].'
        )
    if k == "VOLUME" and any(not a.strip() for a in instr.args):
        raise DockerfileError(f"{where}: VOLUME specified can not be an empty string.")


def did_you_mean(word: str, options: Iterable[str], prefix: str = "") -> str:
    """`` (did you mean X?)`` for the closest option within BuildKit's distance, else ``""``."""
    best = closest(word, options)
    return f" (did you mean {prefix}{best}?)" if best else ""


def closest(word: str, options: Iterable[str]) -> str | None:
    """The option nearest to ``word`` by case-insensitive Levenshtein distance, if fewer than
    3 edits away and not ``word`` itself: BuildKit's rule (util/suggest, ``mindist := 3``)."""
    best: tuple[int, str] | None = None
    low = word.lower()
    for option in sorted(options):
        if abs(len(option) - len(low)) >= 3:
            continue
        d = _distance(low, option.lower())
        if d == 0:
            return None
        if d < 3 and (best is None or d < best[0]):
            best = (d, option)
    return best[1] if best else None


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def mount_options(spec: str) -> dict[str, str]:
    """The ``key=value`` fields of one ``RUN --mount=`` value (CSV, keys lower-cased)."""
    import csv

    out: dict[str, str] = {}
    for row in csv.reader([spec]):
        for item in row:
            key, _, value = item.partition("=")
            out[key.strip().lower()] = value
    return out


def mount_source(spec: str) -> str | None:
    """The stage or image a ``RUN --mount`` takes files from (its ``from=``), if any. A tmpfs
    mount has none, whatever it says (BuildKit's detectRunMount skips it)."""
    options = mount_options(spec)
    if options.get("type", "bind").lower() == "tmpfs":
        return None
    return options.get("from") or None


def buildkit_only(instructions: Sequence[Instruction]) -> Instruction | None:
    """The first instruction the legacy builder cannot run, if any: a flag only BuildKit
    knows (``RUN --mount``, ``COPY --link``...), or a heredoc."""
    legacy_flags = {
        "FROM": {"platform"},
        "COPY": {"from", "chown"},
        "ADD": {"chown"},
        "HEALTHCHECK": set(FLAGS["HEALTHCHECK"]),
    }
    for instr in instructions:
        inner = instr.trigger or instr
        if inner.heredoc or any(name not in legacy_flags.get(inner.keyword, set()) for name, _ in inner.flags):
            return instr
    return None


def _go_error(exc: Exception) -> str:
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else exc.__class__.__name__
