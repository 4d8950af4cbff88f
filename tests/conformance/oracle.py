"""The oracle side of the conformance suite: build a Dockerfile on the real engine and read,
from BuildKit's own progress stream, which stages it solved and how many steps each had.

Deliberately independent of stagecache: a small reader of ``--progress=rawjson`` and of the
step labels dockerfile2llb gives its vertices (``prefixCommand`` in convert.go):

    [<stage> <i>/<n>] <INSTRUCTION ...>             several stages
    [<i>/<n>] <INSTRUCTION ...>                     the file has one stage (no name, even if it has one)
    [<platform>[-><target>] <stage> <i>/<n>] ...    several platforms in one build

``<i>`` is padded with spaces to the width of ``<n>`` (``[build  2/12]``, ``[ 2/12]``).
``-><target>`` is printed when the stage's platform differs from the target platform that the
stage's own ``ARG TARGET*`` lines declare (``linux/amd64->arm64``, ``linux/amd64->windows/amd64``).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STEP_RE = re.compile(r"^\[(?:(?P<inside>[^\]]*?)\s+)?(?P<i>\d+)/(?P<n>\d+)\] (?P<instruction>.*)$", re.DOTALL)

# OS names, to tell "->windows/amd64" (another OS) from "->arm/v7" (an arch with a variant).
KNOWN_OS = {"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix", "plan9"}


@dataclass(frozen=True)
class Vertex:
    digest: str
    name: str
    error: str = ""


@dataclass(frozen=True)
class Step:
    """One vertex labelled as a Dockerfile step."""

    digest: str
    name: str
    platform: str  # the target platform it belongs to; "" when the build has a single platform
    stage: str  # "" when BuildKit printed no stage name (the file has one stage)
    index: int
    total: int
    instruction: str

    @property
    def is_from(self) -> bool:
        """The image pull of a FROM line (not a step of the stage, and shared between builds)."""
        return self.instruction.upper().startswith("FROM ")


@dataclass
class Solve:
    """What BuildKit did with one build."""

    argv: list[str]
    returncode: int
    vertices: list[Vertex]
    text: list[str]  # the lines of stderr that are not JSON (buildx's own messages, ERROR: ...)
    seconds: float
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def error(self) -> str:
        """BuildKit's error text: buildx's ``ERROR:`` line, or the failing vertex's error."""
        lines = [t for t in self.text if t.startswith("ERROR:")]
        if lines:
            return lines[-1].removeprefix("ERROR:").strip()
        errors = [v.error for v in self.vertices if v.error and v.error != "context canceled"]
        if errors:
            return errors[-1]
        return "\n".join(self.text[-5:]).strip() or f"exit code {self.returncode} and no error text"

    def stage_steps(self, platform: str = "") -> dict[str, list[Step]]:
        """stage name -> its distinct step vertices (FROM pulls left out) for one target platform."""
        out: dict[str, list[Step]] = {}
        for step in self.steps:
            if step.platform == platform and not step.is_from:
                out.setdefault(step.stage, []).append(step)
        for steps in out.values():
            steps.sort(key=lambda s: (s.index, s.name))
        return out


def platforms_seen_outside(result: Solve, wanted: set[str]) -> list[str]:
    """The step vertices whose label names none of the ``wanted`` target platforms."""
    return [f"      {s.name}" for s in result.steps if not s.is_from and s.platform not in wanted]


def decode_stream(text: str) -> tuple[list[dict], list[str]]:
    """Split buildx's stderr into the JSON status objects (pretty-printed, one after another)
    and the other lines."""
    decoder = json.JSONDecoder()
    objects: list[dict] = []
    other: list[str] = []
    i = 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        if text[i] == "{":
            try:
                obj, i = decoder.raw_decode(text, i)
            except ValueError:
                pass
            else:
                if isinstance(obj, dict):
                    objects.append(obj)
                continue
        end = text.find("\n", i)
        end = len(text) if end < 0 else end
        other.append(text[i:end].rstrip())
        i = end
    return objects, other


def collect_vertices(objects: Sequence[Mapping]) -> list[Vertex]:
    """Every vertex once (by digest), first name seen, with its error if it had one."""
    names: dict[str, str] = {}
    errors: dict[str, str] = {}
    for obj in objects:
        for v in obj.get("vertexes") or ():
            digest = v.get("digest", "")
            names.setdefault(digest, v.get("name", ""))
            if v.get("error"):
                errors[digest] = v["error"]
    return [Vertex(d, n, errors.get(d, "")) for d, n in names.items()]


def normalize_platform(value: str) -> str:
    """``linux/arm64/v8`` -> ``linux/arm64``; ``linux/amd64`` stays."""
    parts = value.strip().split("/")
    if len(parts) == 3 and parts[1] == "arm64" and parts[2] == "v8":
        parts = parts[:2]
    return "/".join(parts)


def target_platform(prefix: str) -> str:
    """The target platform of a ``<platform>[-><target>]`` label prefix."""
    base, arrow, target = prefix.partition("->")
    if not arrow:
        return normalize_platform(base)
    if target.split("/")[0] in KNOWN_OS:
        return normalize_platform(target)
    return normalize_platform(f"{base.split('/')[0]}/{target}")


def parse_step(vertex: Vertex, multi_platform: bool) -> Step | None:
    """A ``[... i/n] INSTRUCTION`` vertex as a Step, or None for other vertices ([internal] ...)."""
    m = STEP_RE.match(vertex.name)
    if not m:
        return None
    words = (m.group("inside") or "").split()
    platform = ""
    if multi_platform and words and "/" in words[0]:
        platform = target_platform(words.pop(0))
    if len(words) > 1:
        return None  # not a label dockerfile2llb makes
    return Step(
        digest=vertex.digest,
        name=vertex.name,
        platform=platform,
        stage=words[0] if words else "",
        index=int(m.group("i")),
        total=int(m.group("n")),
        instruction=m.group("instruction"),
    )


def build_argv(
    dockerfile: Path,
    context: Path,
    target: str,
    build_args: Mapping[str, str],
    platforms: Sequence[str],
) -> list[str]:
    argv = ["docker", "buildx", "build", "--progress=rawjson", "--network", "none", "--output", "type=cacheonly"]
    argv += ["-f", str(dockerfile)]
    if target:
        argv += ["--target", target]
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    if platforms:
        argv += ["--platform", ",".join(platforms)]
    argv.append(str(context))
    return argv


def solve(
    dockerfile: Path,
    context: Path,
    target: str = "",
    build_args: Mapping[str, str] | None = None,
    platforms: Sequence[str] = (),
    timeout: float = 300,
) -> Solve:
    """Build (result kept only in BuildKit's cache) and read what was solved."""
    argv = build_argv(dockerfile, context, target, build_args or {}, platforms)
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - started
    objects, text = decode_stream(proc.stderr + "\n" + proc.stdout)
    vertices = collect_vertices(objects)
    multi = len(platforms) > 1
    steps = [s for s in (parse_step(v, multi) for v in vertices) if s is not None]
    return Solve(argv=argv, returncode=proc.returncode, vertices=vertices, text=text, seconds=seconds, steps=steps)
