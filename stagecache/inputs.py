"""What each step of a stage is built from: its input manifest.

BuildKit says which steps missed, never why. To say why, stagecache records, per stage, the
inputs of every step when it writes the stage's cache, and compares them with the current
ones at the next bake (stagecache.explain):

- the instruction as written (BuildKit's step name);
- the variables the step sees: for ``RUN``, every ARG and ENV value in effect (BuildKit runs the
  command with all of them); for other steps, those the instruction names. A secret build arg
  (``[build].secret_args``) is kept as a keyed hash, never as its value;
- the files the step copies from the build context, after ``.dockerignore``: path, content
  digest and mode;
- the stages it copies from or mounts;
- the base image as BuildKit resolved it (``image@sha256:...``, from the bake's progress).

A manifest is a small JSON document (schema ``stagecache.inputs/v1``) stored next to the
stage's cache (stagecache.inputstore).
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import os
import posixpath
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagecache import dockerignore

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Collection, Iterator

    from stagecache.graph import Instruction, Stage, StageGraph

SCHEMA = "stagecache.inputs/v1"
_WILDCARD = re.compile(r"[*?\[]")
_REMOTE = re.compile(r"^(?:https?://|git@|git://)", re.IGNORECASE)


@dataclass(frozen=True)
class StepInputs:
    """The inputs of one ``[stage i/n]`` step."""

    number: int
    line: int
    instruction: str
    variables: tuple[tuple[str, str], ...] = ()
    """(NAME, value) of the variables the step sees; a secret one's value is ``hmac:HEX``."""
    files: tuple[tuple[str, str], ...] = ()
    """(context path, ``sha256:HEX MODE`` or ``link:TARGET``) of every file it copies from the
    build context."""
    uses: tuple[str, ...] = ()
    """The stages (labels) or images it copies from or mounts."""


@dataclass(frozen=True)
class StageInputs:
    """The inputs of every step of one stage."""

    stage: str
    steps: tuple[StepInputs, ...]
    args: tuple[str, ...] = ()
    """The names among the steps' variables that are build args (ARG), the others being ENV."""
    secret: tuple[str, ...] = ()
    """The names among them whose values are secret (kept as keyed hashes)."""
    base: str = ""
    """The image the stage starts from, as BuildKit resolved it (``image@sha256:...``), or
    ``stage NAME``; empty when unknown."""
    upstream: tuple[tuple[str, str], ...] = ()
    """(stage, fingerprint) of the stages it is built FROM, copies from or mounts, as they were
    (see :meth:`chained`)."""
    cache: str = ""
    """The digest of the cache this record describes (stagecache.inputstore.identity)."""
    key: str = ""
    """A digest of the whole stage: every instruction as written (metadata ones such as USER,
    SHELL, LABEL and CMD too, not their lines) with the values of the variables it uses, and
    the bake settings that enter BuildKit's cache keys (platform, network); empty in records
    written before it was kept."""
    image: str = ""
    """The digest of the stage image at its first tag, when the bake that wrote the record
    pushed it (or found it there, unchanged): see stagecache.fastpath."""

    def step(self, number: int) -> StepInputs | None:
        """The inputs of step ``number``, if the stage has it."""
        return next((s for s in self.steps if s.number == number), None)

    def with_base(self, base: str) -> StageInputs:
        """The same, with the base image BuildKit resolved."""
        return replace(self, base=base)

    def fingerprint(self) -> str:
        """A digest of the steps' inputs: instructions, variables, files, stages used, and the
        stage's :attr:`key` (not their lines, nor the base image: a change there shows as the
        stage's own miss)."""
        core: list[Any] = [(s.instruction, s.variables, s.files, s.uses) for s in self.steps]
        if self.key:
            core.append(self.key)
        return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:32]

    def chained(self) -> str:
        """:meth:`fingerprint` with the base image and the upstream stages' (as :attr:`upstream`
        has them: through their own upstream stages when those were filled in first), so that a
        change anywhere upstream shows in every stage built on it."""
        core = [self.fingerprint(), self.base, sorted(self.upstream)]
        return hashlib.sha256(json.dumps(core).encode()).hexdigest()[:32]

    def uses(self) -> tuple[str, ...]:
        """The stages it is built FROM, copies from or mounts."""
        base = (self.base.removeprefix("stage "),) if self.base.startswith("stage ") else ()
        return tuple(dict.fromkeys((*base, *(u for s in self.steps for u in s.uses))))

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        return {
            "schema": SCHEMA,
            "stage": self.stage,
            "cache": self.cache,
            "key": self.key,
            "image": self.image,
            "base": self.base,
            "upstream": dict(self.upstream),
            "args": list(self.args),
            "secret": list(self.secret),
            "steps": [
                {
                    "step": s.number,
                    "line": s.line,
                    "instruction": s.instruction,
                    "variables": dict(s.variables),
                    "files": dict(s.files),
                    "uses": list(s.uses),
                }
                for s in self.steps
            ],
        }

    @classmethod
    def from_json(cls, data: object) -> StageInputs:
        """A stored manifest; ValueError when it is not one this version reads."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document")
        try:
            steps = tuple(
                StepInputs(
                    int(s["step"]),
                    int(s["line"]),
                    str(s["instruction"]),
                    tuple((str(k), str(v)) for k, v in dict(s["variables"]).items()),
                    tuple((str(k), str(v)) for k, v in dict(s["files"]).items()),
                    tuple(str(u) for u in s["uses"]),
                )
                for s in data["steps"]
            )
            return cls(
                str(data["stage"]),
                steps,
                tuple(str(a) for a in data["args"]),
                tuple(str(a) for a in data["secret"]),
                str(data["base"]),
                tuple((str(k), str(v)) for k, v in dict(data.get("upstream") or {}).items()),
                str(data.get("cache") or ""),
                str(data.get("key") or ""),
                str(data.get("image") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a malformed {SCHEMA} document ({type(exc).__name__}: {exc})") from None


def keyed_hash(name: str, value: str) -> str:
    """What a manifest keeps of a secret build arg: an HMAC of its value, keyed by its name.
    It tells a change apart from no change and reveals no more of the value than BuildKit's own
    cache key, which hashes the same value into every RUN step's key."""
    return "hmac:" + hmac.new(f"stagecache.inputs/v1 {name}".encode(), value.encode(), hashlib.sha256).hexdigest()


class Context:
    """The build context's files as a build sends them (after ``.dockerignore``). The folder is
    listed once, and each file is hashed once, only when a step copies it."""

    def __init__(self, root: Path, dockerfile: Path | None = None) -> None:
        self.root = root
        try:
            text = dockerignore.ignore_file(root, dockerfile).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        self._patterns = dockerignore.parse(text)
        self._files: list[str] | None = None
        self._digests: dict[str, str] = {}

    def files(self) -> list[str]:
        """Every file and symbolic link the build context holds, as sorted slash paths."""
        if self._files is None:
            self._files = sorted(self._walk())
        return self._files

    def _walk(self) -> Iterator[str]:
        # Without exceptions ("!pattern"), nothing below an excluded folder can come back.
        prune = not any(p.exclusion for p in self._patterns)
        for folder, dirs, names in os.walk(self.root):
            rel = Path(folder).relative_to(self.root).as_posix()
            prefix = "" if rel == "." else rel + "/"
            if prune:
                dirs[:] = [d for d in dirs if not dockerignore.matches(self._patterns, prefix + d)]
            for name in names:
                path = prefix + name
                if not dockerignore.matches(self._patterns, path):
                    yield path
            for d in dirs:
                if os.path.islink(os.path.join(folder, d)) and not dockerignore.matches(self._patterns, prefix + d):
                    yield prefix + d  # a link to a folder: sent as a link

    def select(self, source: str) -> list[str]:
        """The files a ``COPY``/``ADD`` source selects: the file itself, everything below a
        folder, or what a wildcard matches (``*``, ``?`` and ``[...]`` within one path element,
        as Go's filepath.Match, which BuildKit uses)."""
        src = posixpath.normpath(source.strip().lstrip("/") or ".")
        if src == ".":
            return self.files()
        if not _WILDCARD.search(src):
            return [f for f in self.files() if f == src or f.startswith(src + "/")]
        parts = src.split("/")
        out = []
        for f in self.files():
            names = f.split("/")
            if len(names) >= len(parts) and all(
                fnmatch.fnmatchcase(n, p.replace("[^", "[!")) for n, p in zip(names, parts, strict=False)
            ):
                out.append(f)
        return out

    def digest(self, path: str, follow: bool = False) -> str:
        """``sha256:HEX MODE`` of a regular file (its content, streamed, and its permission
        bits); ``link:TARGET`` for a symbolic link, unless ``follow`` (a COPY source that is
        itself a link copies what it points to); the kind of anything else (a pipe is never
        opened)."""
        key = ("+" if follow else "") + path
        if key not in self._digests:
            full = self.root / path
            st = full.stat() if follow else full.lstat()
            if stat.S_ISLNK(st.st_mode):
                self._digests[key] = "link:" + os.readlink(full)
            elif not stat.S_ISREG(st.st_mode):
                self._digests[key] = "special:" + ("dir" if stat.S_ISDIR(st.st_mode) else "other")
            else:
                h = hashlib.sha256()
                with open(full, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
                self._digests[key] = f"sha256:{h.hexdigest()} {stat.S_IMODE(st.st_mode):o}"
        return self._digests[key]


def collect(
    stage: Stage,
    graph: StageGraph,
    context: Context,
    secret: Collection[str] = (),
    secret_values: Collection[str] = (),
    settings: str = "",
) -> StageInputs:
    """The current inputs of every step of ``stage`` (the base image is filled in after the
    build: see :meth:`StageInputs.with_base`). A variable is kept as a keyed hash when it is a
    secret build arg (``secret``: plan.secret_args) or its value holds a secret value (an ENV
    made from one). ``settings``: the bake settings that enter the steps' cache keys, for
    :attr:`StageInputs.key`."""
    steps = []
    args: set[str] = set()
    hidden: set[str] = set()

    def seen_by(instr: Instruction) -> list[tuple[str, str]]:
        """The variables ``instr`` sees (a RUN: all; else those its text names), a secret one
        as a keyed hash."""
        seen = instr.env if instr.keyword == "RUN" else tuple((k, v) for k, v in instr.env if _names(instr.text, k))
        variables = []
        for name, value in seen:
            if name in instr.arg_names:
                args.add(name)
            if name in secret or any(v in value for v in secret_values if v):
                hidden.add(name)
                value = keyed_hash(name, value)
            variables.append((name, value))
        return variables

    written = [stage.from_text, settings]
    for instr in stage.instructions:
        written.append(f"{'onbuild ' if instr.onbuild else ''}{instr.text} {json.dumps(sorted(seen_by(instr)))}")
    for instr in stage.steps:
        assert instr.step is not None
        variables = seen_by(instr)
        files: dict[str, str] = {}
        for src in instr.context_sources:
            if _REMOTE.match(src):
                continue  # ADD of a URL or a git repository: not a file of the context
            root = posixpath.normpath(src.strip().lstrip("/") or ".")
            for path in context.select(src):
                files[path] = context.digest(path, follow=path == root)
        uses = []
        for ref in instr.uses:
            found = graph.find(ref)
            uses.append(found.label if found is not None else ref)
        steps.append(
            StepInputs(
                instr.step,
                instr.line,
                instr.text,
                tuple(sorted(variables)),
                tuple(sorted(files.items())),
                tuple(dict.fromkeys(uses)),
            )
        )
    base = f"stage {graph.stages[stage.base_stage].label}" if stage.base_stage is not None else ""
    key = hashlib.sha256(json.dumps(written).encode()).hexdigest()[:32]
    return StageInputs(stage.label, tuple(steps), tuple(sorted(args)), tuple(sorted(hidden)), base, key=key)


def _names(text: str, name: str) -> bool:
    """Whether an instruction's text refers to the variable ``name`` ($NAME or ${NAME...})."""
    return re.search(r"\$(?:\{" + re.escape(name) + r"\b|" + re.escape(name) + r"(?![A-Za-z0-9_]))", text) is not None
