"""BuildKit's progress stream -> per-step facts (cached or executed, seconds).

``--progress=rawjson`` prints BuildKit's SolveStatus messages as pretty-printed
JSON objects, one after another, interleaved with plain lines from buildx
(``WARNING: ...``, ``ERROR: ...``). :class:`RawJsonDecoder` splits that stream
incrementally in linear time; :class:`BuildProgress` folds the messages into
one record per vertex, keeping memory bounded by the number of vertices, not
by the length of the log.

The classic builder has no such stream; :class:`LegacyProgress` reads its
``Step N/M :`` / ``---> Using cache`` lines into the same records.

What counts as a step: a vertex named ``[stage i/n] INSTRUCTION`` for one
filesystem-changing instruction (RUN, COPY, ADD, WORKDIR). A stage built
``FROM`` an external image has that pull as step 1, which is not a cacheable
step and is not counted; a stage built ``FROM`` another stage or ``scratch``
starts at its first instruction. ENV, ARG, LABEL, CMD and friends change only
image metadata and are not vertices.
"""

from __future__ import annotations

import base64
import codecs
import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from stagecache.syntax import STEP_KEYWORDS

_NAME_RE = re.compile(r"^\[(?P<prefix>[^\]]*?) *(?P<num>\d+)/(?P<total>\d+)\] (?P<text>.*)$", re.DOTALL)
# bake: "[target] exporting cache ...", "[target internal] load ..."; plain builds: "[internal] ...".
_TARGET_RE = re.compile(r"^\[(?P<target>[A-Za-z0-9_-]+)(?: [a-z]+)?\] ")
_TOKEN_RE = re.compile(r'[{}"\\]')
_OS_NAMES = frozenset(
    {"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd", "openbsd"}
    | {"plan9", "solaris", "wasip1", "windows"}
)
LOG_TAIL = 20
"""Lines of a vertex's own output kept for error messages."""
LOG_LINE_CAP = 8192
"""A step's output is passed on a whole line at a time (so that a secret split across two
chunks of it is still replaced); a line longer than this is passed on in pieces."""
REDACTED = "***"


def parse_time(value: str | None) -> float | None:
    """RFC 3339 with nanoseconds (as BuildKit prints it) -> POSIX seconds."""
    if not value:
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", value)
    if not m:
        return None
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    tz = m.group(3)
    if tz == "Z":
        base = base.replace(tzinfo=timezone.utc)
    else:
        sign = 1 if tz[0] == "+" else -1
        base = base.replace(tzinfo=timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))))
    frac = float("0." + m.group(2)) if m.group(2) else 0.0
    return base.timestamp() + frac


class RawJsonDecoder:
    """Incremental splitter for a stream of concatenated JSON objects and text lines.

    ``feed(chunk)`` yields ``dict`` for each complete top-level JSON object and
    ``str`` for each complete line of plain text outside any object. Each
    character is looked at once, so the cost is linear in the stream's length.
    """

    def __init__(self) -> None:
        self._buf: list[str] = []
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._text = False  # inside a plain-text line at depth 0

    def feed(self, chunk: str) -> Iterator[dict | str]:
        """Consume ``chunk``; yield every object or text line it completes."""
        start = 0
        pos = 0
        n = len(chunk)
        while pos < n:
            if self._depth == 0 and not self._text:
                # Between objects: skip blanks; '{' opens an object, anything else is text.
                while pos < n and chunk[pos] in " \t\r\n":
                    pos += 1
                if pos >= n:
                    break
                start = pos
                if chunk[pos] == "{":
                    self._depth = 1
                    pos += 1
                else:
                    self._text = True
            if self._text:
                nl = chunk.find("\n", pos)
                if nl < 0:
                    self._buf.append(chunk[start:])
                    return
                self._buf.append(chunk[start:nl])
                line = "".join(self._buf).rstrip("\r")
                self._buf.clear()
                self._text = False
                pos = nl + 1
                if line.strip():
                    yield line
                continue
            while pos < n and self._depth > 0:
                if self._escape:
                    self._escape = False
                    pos += 1
                    continue
                m = _TOKEN_RE.search(chunk, pos)
                if m is None:
                    pos = n
                    break
                ch = m.group()
                pos = m.end()
                if ch == "\\":
                    if self._in_string:
                        self._escape = True
                elif ch == '"':
                    self._in_string = not self._in_string
                elif self._in_string:
                    continue
                elif ch == "{":
                    self._depth += 1
                elif ch == "}":
                    self._depth -= 1
            if self._depth == 0 and not self._in_string:
                self._buf.append(chunk[start:pos])
                text = "".join(self._buf)
                self._buf.clear()
                try:
                    yield json.loads(text)
                except json.JSONDecodeError:
                    yield text.strip()
                start = pos
            else:
                self._buf.append(chunk[start:pos])
                start = pos

    def close(self) -> Iterator[dict | str]:
        """Flush what is left at the end of the stream (an unterminated line)."""
        rest = "".join(self._buf).strip()
        self._buf.clear()
        if rest:
            yield rest


@dataclass(frozen=True)
class StepName:
    """What a vertex name like ``[target linux/amd64->arm64 build  2/12] RUN ...`` says.

    BuildKit's prefixCommand writes ``[PLATFORM STAGE I/N]``: PLATFORM only when several
    platforms were requested (``linux/amd64``, or ``linux/amd64->arm64`` when a stage
    ``FROM --platform=$BUILDPLATFORM`` builds for another target platform), STAGE omitted
    when the Dockerfile has a single stage, and I padded with spaces to the width of N.
    ``buildx bake`` puts the bake target in front.
    """

    stage: str
    number: int
    total: int
    text: str
    platform: str | None = None
    """The *target* platform the step builds for."""
    target: str | None = None


def parse_step_name(name: str) -> StepName | None:
    """Read a ``[... i/n] INSTRUCTION`` vertex name; None for any other vertex."""
    m = _NAME_RE.match(name)
    if m is None:
        return None
    tokens = m.group("prefix").split()
    platform = None
    for i, token in enumerate(tokens):
        if "/" in token:
            platform = _target_platform(tokens.pop(i))
            break
    if len(tokens) > 2:
        return None
    target = tokens[0] if len(tokens) == 2 else None
    return StepName(
        stage=tokens[-1] if tokens else "",
        number=int(m.group("num")),
        total=int(m.group("total")),
        text=m.group("text"),
        platform=platform,
        target=target,
    )


def _target_platform(token: str) -> str:
    """``linux/amd64`` -> itself; ``linux/amd64->arm64`` -> ``linux/arm64`` (BuildKit's
    formatTargetPlatform writes only the arch when the OS is the same)."""
    base, arrow, other = token.partition("->")
    if not arrow:
        return base
    if other.split("/", 1)[0] in _OS_NAMES:
        return other
    return f"{base.split('/', 1)[0]}/{other}"


def vertex_target(name: str) -> tuple[str | None, str]:
    """The bake target a non-step vertex name starts with, and the rest of the name:
    ``[app] exporting cache ...`` -> (``app``, ``exporting cache ...``)."""
    m = _TARGET_RE.match(name)
    if m is None:
        return None, name
    target = m.group("target")
    return (None if target == "internal" else target), name[m.end() :]


@dataclass
class Step:
    """One build step (a vertex with a ``[stage i/n]`` name)."""

    stage: str
    number: int
    total: int
    instruction: str
    digest: str = ""
    platform: str | None = None
    target: str | None = None
    """The bake target that listed it (one bake session)."""
    line: int | None = None
    cached: bool = False
    started: float | None = None
    completed: float | None = None
    error: str | None = None
    logs: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))

    @property
    def seconds(self) -> float:
        """Wall time of the step (0 for a cache hit)."""
        if self.started is None or self.completed is None:
            return 0.0
        return max(0.0, self.completed - self.started)

    @property
    def is_pull(self) -> bool:
        """``FROM image`` is a pull, not a cacheable step."""
        return self.instruction[:5].upper() == "FROM "

    @property
    def done(self) -> bool:
        """Finished, one way or another."""
        return self.cached or self.completed is not None or self.error is not None


@dataclass(frozen=True)
class Event:
    """What the display is told about: a step started, finished, or a line of log."""

    kind: str  # "start" | "cached" | "done" | "error" | "log" | "message"
    step: Step | None = None
    text: str = ""


@dataclass
class Vertex:
    """Other vertices (internal, exporting...) kept for errors and export status."""

    name: str
    started: float | None = None
    completed: float | None = None
    error: str | None = None
    cached: bool = False
    target: str | None = None


@dataclass
class CacheFacts:
    """What BuildKit said about cache import and export, for one bake target (or a build)."""

    import_errors: list[str] = field(default_factory=list)
    missing_caches: list[str] = field(default_factory=list)
    export_errors: list[str] = field(default_factory=list)


_IMPORT_FAIL_RE = re.compile(r"failed to configure (?P<kind>\w+) cache importer", re.IGNORECASE)
_LOCAL_MISSING_RE = re.compile(r"local cache import at (?P<src>\S+) not found")
_IMPORT_NAME = "importing cache manifest from "
_LOAD_METADATA_RE = re.compile(r"load metadata for (?P<image>\S+)")
_NOT_FOUND_RE = re.compile(r": not found$|manifest unknown|404 Not Found", re.IGNORECASE)
_EXPORT_NAMES = (
    "exporting cache",
    "exporting to ",
    "writing cache",
    "preparing build cache for export",
    "preparing layers for inline cache",
)


def _is_cache_export(name: str) -> bool:
    return "cache" in name and any(name.startswith(p) for p in _EXPORT_NAMES)


class Scrubber:
    """Replaces every secret value in a text with ``***``.

    Overlapping occurrences (of one value, or of two values sharing letters) are replaced as one
    span, so that no character of any of them is left over.
    """

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.longest = max((len(s) for s in self.secrets), default=0)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where secrets occur in ``text``: sorted, merged (start, end) pairs."""
        found = []
        for secret in self.secrets:
            i = text.find(secret)
            while i >= 0:
                found.append((i, i + len(secret)))
                i = text.find(secret, i + 1)
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def scrub(self, text: str, upto: int | None = None) -> tuple[str, int]:
        """``text[:cut]`` scrubbed, and ``cut``: ``upto`` (default: the whole text), moved past
        a secret that straddles it."""
        cut = len(text) if upto is None else upto
        out = []
        pos = 0
        for start, end in self.spans(text):
            if start >= cut:
                break
            out.append(text[pos:start])
            out.append(REDACTED)
            pos = end
        cut = max(cut, pos)
        out.append(text[pos:cut])
        return "".join(out), cut


class _LineBuffer:
    """One output stream of one vertex, passed on a line at a time, scrubbed as a whole line.

    BuildKit sends a step's output in chunks as the process writes it, so a secret can be split
    between two ``logs`` entries. Text is held until its newline (or :meth:`flush`, at the end
    of the vertex or the stream). A line longer than ``cap`` is passed on in pieces, holding
    back as many characters as the longest secret has, less one: a secret that straddles the
    cut is then still whole in what is held, or already whole in the piece (and replaced).
    """

    def __init__(self, scrubber: Scrubber, cap: int = LOG_LINE_CAP) -> None:
        self._scrubber = scrubber
        self._cap = cap
        self._parts: list[str] = []
        self._size = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed_bytes(self, data: bytes) -> list[str]:
        """Raw output bytes (a UTF-8 character may be split between chunks too)."""
        return self.feed(self._decoder.decode(data))

    def feed(self, text: str) -> list[str]:
        """Consume ``text``; return the scrubbed lines it completes."""
        out: list[str] = []
        nl = text.rfind("\n")
        if nl >= 0:
            self._parts.append(text[:nl])
            whole = self._scrubber.scrub("".join(self._parts))[0]
            out.extend(line for segment in whole.split("\n") for line in segment.splitlines() or [""])
            rest = text[nl + 1 :]
            self._parts = [rest] if rest else []
            self._size = len(rest)
        elif text:
            self._parts.append(text)
            self._size += len(text)
        if self._size > self._cap + self._scrubber.longest:
            pending = "".join(self._parts)
            piece, cut = self._scrubber.scrub(pending, len(pending) - max(0, self._scrubber.longest - 1))
            out.extend(piece.splitlines())
            rest = pending[cut:]
            self._parts = [rest] if rest else []
            self._size = len(rest)
        return out

    def flush(self) -> list[str]:
        """The scrubbed rest, without its newline (end of the vertex or of the stream)."""
        tail = self._decoder.decode(b"", final=True)
        pending = "".join(self._parts) + tail
        self._parts.clear()
        self._size = 0
        return self._scrubber.scrub(pending)[0].splitlines()


class _Progress:
    """What both progress readers collect."""

    def __init__(self, on_event: Callable[[Event], None] | None = None, secrets: Sequence[str] = ()) -> None:
        # BuildKit prints ARG values expanded into step names ("RUN test -z \"value\""): every
        # text taken from the stream is scrubbed of secret build arg values (plan.secret_values),
        # after it is decoded (logs and warnings are base64) and, for a step's output, once its
        # line is whole.
        self._scrubber = Scrubber(secrets)
        self.steps: dict[str, Step] = {}
        self.messages: list[str] = []
        self.facts: dict[str | None, CacheFacts] = {}
        """Cache import/export facts per bake target; None: not named by a target (plain
        builds, and buildx's own WARNING lines)."""
        self._on_event = on_event or (lambda e: None)

    def _facts(self, target: str | None) -> CacheFacts:
        return self.facts.setdefault(target, CacheFacts())

    @property
    def import_errors(self) -> list[str]:
        """Every cache import that failed, whatever target it belongs to."""
        return [e for f in self.facts.values() for e in f.import_errors]

    @property
    def missing_caches(self) -> list[str]:
        """Every imported cache that did not exist (normal on a first run)."""
        return [e for f in self.facts.values() for e in f.missing_caches]

    @property
    def export_errors(self) -> list[str]:
        """Every cache export that failed."""
        return [e for f in self.facts.values() for e in f.export_errors]

    @property
    def export_seconds(self) -> float:
        """Seconds spent exporting cache (the classic builder exports none itself)."""
        return 0.0

    def scrub(self, text: str) -> str:
        """``text`` with every secret value replaced by ``***``."""
        return self._scrubber.scrub(text)[0] if self._scrubber.secrets else text

    def failed_step(self) -> Step | None:
        """The step that failed the build: the first to report an error of its own, not the
        cancellation BuildKit then sends to the steps still running ("context canceled")."""
        failed = [s for s in self.steps.values() if s.error]
        own = [s for s in failed if "context canceled" not in (s.error or "")] or failed
        return min(own, key=lambda s: s.started or 0.0) if own else None


class BuildProgress(_Progress):
    """Folds a buildx rawjson stream into steps, errors and cache import/export facts."""

    def __init__(self, on_event: Callable[[Event], None] | None = None, secrets: Sequence[str] = ()) -> None:
        super().__init__(on_event, secrets)
        self.vertices: dict[str, Vertex] = {}
        self._decoder = RawJsonDecoder()
        self._open_logs: dict[tuple[str, int], _LineBuffer] = {}
        """Output of a vertex not yet passed on: (vertex digest, stream) -> its unfinished line."""

    def feed(self, chunk: str) -> None:
        """Consume a chunk of buildx's stderr."""
        for item in self._decoder.feed(chunk):
            self._handle(item)

    def close(self) -> None:
        """End of stream."""
        for item in self._decoder.close():
            self._handle(item)
        for key in list(self._open_logs):
            self._flush_logs(key)

    def _handle(self, item: dict | str) -> None:
        if isinstance(item, str):
            self._message(item)
            return
        vertices = item.get("vertexes") or ()
        for v in vertices:
            self._vertex(v)
        for log in item.get("logs") or ():
            self._log(log)
        # A vertex that has ended passes on the rest of its output, newline or not.
        ended = {v.get("digest", "") for v in vertices if v.get("completed") or v.get("error")}
        for key in [k for k in self._open_logs if k[0] in ended]:
            self._flush_logs(key)
        for w in item.get("warnings") or ():
            self._warning(w)

    def _warning(self, w: dict) -> None:
        """A frontend warning: ``short`` and each ``detail`` line are base64."""
        texts = []
        for data in [w.get("short"), *(w.get("detail") or ())]:
            if not data or not isinstance(data, str):
                continue
            try:
                texts.append(base64.b64decode(data).decode("utf-8", "replace").strip())
            except ValueError:
                continue
        if texts and texts[0]:
            detail = f" ({' '.join(texts[1:])})" if len(texts) > 1 else ""
            self._message("WARNING: " + texts[0] + detail)

    def _message(self, line: str) -> None:
        line = self.scrub(line)
        self.messages.append(line)
        if len(self.messages) > 200:
            del self.messages[:100]
        m = _LOCAL_MISSING_RE.search(line)
        if m:
            # A cache that does not exist yet: normal on a first run, not a problem.
            self._facts(None).missing_caches.append(m.group("src"))
            return
        if _IMPORT_FAIL_RE.search(line) or (line.startswith("WARNING") and "cache import" in line):
            self._facts(None).import_errors.append(line)
        self._on_event(Event("message", text=line))

    def _vertex(self, v: dict) -> None:
        digest = v.get("digest", "")
        raw = v.get("name", "")
        error = self.scrub(v["error"]) if v.get("error") else None
        # Parsed before it is scrubbed: a secret that happens to be in "[build 1/3]" must not
        # break the name; the instruction is what can hold a build arg's value.
        parsed = parse_step_name(raw)
        if parsed is None:
            target, name = vertex_target(raw)
            name = self.scrub(name)
            vx = self.vertices.get(digest)
            if vx is None:
                vx = self.vertices[digest] = Vertex(name, target=target)
            vx.started = parse_time(v.get("started")) or vx.started
            vx.completed = parse_time(v.get("completed")) or vx.completed
            vx.cached = vx.cached or bool(v.get("cached"))
            if error and not vx.error:
                vx.error = error
                facts = self._facts(target)
                if name.startswith(_IMPORT_NAME):
                    ref = name[len(_IMPORT_NAME) :]
                    if _NOT_FOUND_RE.search(vx.error):
                        facts.missing_caches.append(ref)
                    else:
                        facts.import_errors.append(f"{ref}: {vx.error}")
                elif _is_cache_export(name):
                    facts.export_errors.append(f"{name}: {error}")
            return
        step = self.steps.get(digest)
        if step is None:
            step = self.steps[digest] = Step(
                stage=parsed.stage,
                number=parsed.number,
                total=parsed.total,
                instruction=self.scrub(parsed.text),
                digest=digest,
                platform=parsed.platform,
                target=parsed.target,
            )
        was_started = step.started is not None
        was_done = step.done
        started = parse_time(v.get("started"))
        completed = parse_time(v.get("completed"))
        # BuildKit re-sends a vertex with a new 'started' when it runs it again
        # after a cache probe; keep the earliest start and latest completion.
        if started is not None and (step.started is None or started < step.started):
            step.started = started
        if completed is not None and (step.completed is None or completed > step.completed):
            step.completed = completed
        if v.get("cached"):
            step.cached = True
        if error:
            step.error = error
        if step.error and not was_done:
            self._on_event(Event("error", step))
        elif step.done and not was_done:
            self._on_event(Event("cached" if step.cached else "done", step))
        elif step.started is not None and not was_started:
            self._on_event(Event("start", step))

    def _log(self, log: dict) -> None:
        try:
            data = base64.b64decode(log.get("data") or "")
        except ValueError:
            return
        key = (log.get("vertex", ""), log.get("stream", 1))
        buffer = self._open_logs.get(key)
        if buffer is None:
            buffer = self._open_logs[key] = _LineBuffer(self._scrubber)
        self._pass_on(key[0], buffer.feed_bytes(data))

    def _flush_logs(self, key: tuple[str, int]) -> None:
        self._pass_on(key[0], self._open_logs.pop(key).flush())

    def _pass_on(self, digest: str, lines: list[str]) -> None:
        step = self.steps.get(digest)
        for line in lines:
            if step is not None:
                step.logs.append(line)
            self._on_event(Event("log", step, line))

    def pull_failures(self) -> list[tuple[str, str]]:
        """(image, BuildKit's error) for every base or --from image BuildKit could not resolve
        (its "load metadata for IMAGE" vertices), the cancellations that follow aside."""
        out = []
        for v in self.vertices.values():
            m = _LOAD_METADATA_RE.search(v.name)
            if m and v.error and "context canceled" not in v.error:
                out.append((m.group("image"), v.error))
        return out

    def error_lines(self) -> list[str]:
        """BuildKit's and buildx's error lines, as shown to the user on failure: its ERROR
        lines, else the errors of non-step vertices (exporting, pushing), else its last words."""
        lines = [m for m in self.messages if m.startswith("ERROR") or "error" in m.lower()[:40]]
        if lines:
            return lines
        lines = [f"{v.name}: {v.error}" for v in self.vertices.values() if v.error]
        return lines or self.messages[-5:]

    @property
    def export_seconds(self) -> float:
        """Seconds BuildKit spent exporting cache (its cache-export vertices, end to end)."""
        return self.export_seconds_of(None, every_target=True)

    def export_seconds_of(self, target: str | None, every_target: bool = False) -> float:
        """Seconds the cache-export vertices of one bake target took, end to end (their union:
        "preparing build cache" runs inside "exporting cache")."""
        spans = [
            (v.started, v.completed)
            for v in self.vertices.values()
            if v.started is not None
            and v.completed is not None
            and _is_cache_export(v.name)
            and (every_target or v.target == target)
        ]
        total, end = 0.0, float("-inf")
        for start, stop in sorted(spans):
            if stop <= end:
                continue
            total += stop - max(start, end)
            end = stop
        return total


# How the classic builder and the daemon word an error (the daemon's own start "failed to ...").
_LEGACY_ERRORS = ("ERROR", "The command ", "COPY failed", "error", "failed to ")
_LEGACY_STEP_RE = re.compile(r"^Step (?P<num>\d+)/(?P<total>\d+) : (?P<text>.*)$")
_LEGACY_FROM_RE = re.compile(
    r"^FROM\s+(?:--platform=\S+\s+)?(?P<base>\S+)(?:\s+AS\s+(?P<name>\S+))?\s*$", re.IGNORECASE
)


class LegacyProgress(_Progress):
    """Reads the classic builder's output (``Step N/M : ...``) into the same Steps.

    The classic builder numbers steps across the whole Dockerfile; a ``FROM``
    step starts the next stage. Its metadata instructions (ENV, LABEL...) are
    steps here too, unlike in BuildKit, so they are dropped to count the same way.
    """

    def __init__(
        self,
        on_event: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.time,
        secrets: Sequence[str] = (),
    ) -> None:
        super().__init__(on_event, secrets)
        self._clock = clock
        self._stage_index = -1
        self._stage_names: set[str] = set()
        self._stage = ""
        self._stage_step = 0
        self._current: Step | None = None
        self._lines = _LineBuffer(self._scrubber)
        self._tail: deque[str] = deque(maxlen=LOG_TAIL)
        """The last lines that were not steps, for an error the builder words its own way."""

    def feed(self, chunk: str) -> None:
        """Consume a chunk of ``docker build`` output."""
        for line in self._lines.feed(chunk):
            self._line(line)

    def close(self) -> None:
        """End of stream: the last step, if still open, finished now."""
        for line in self._lines.flush():
            self._line(line)
        self._finish()

    def _finish(self) -> None:
        step = self._current
        if step is not None and not step.done:
            step.completed = self._clock()
            self._on_event(Event("cached" if step.cached else "done", step))
        self._current = None

    def _line(self, line: str) -> None:
        m = _LEGACY_STEP_RE.match(line)
        if m:
            self._finish()
            text = m.group("text")
            f = _LEGACY_FROM_RE.match(text)
            if f:
                self._stage_index += 1
                self._stage = (f.group("name") or f"stage-{self._stage_index}").lower()
                base = f.group("base").lower()
                # Number steps as BuildKit does: an image FROM is step 1; a stage or scratch FROM is no step.
                from_stage = base == "scratch" or base in self._stage_names or base.isdigit()
                self._stage_step = 0 if from_stage else 1
                self._stage_names.add(self._stage)
                return
            if text.split(None, 1)[0].upper() not in STEP_KEYWORDS:
                return
            self._stage_step += 1
            key = f"legacy-{m.group('num')}"
            begun = Step(self._stage, self._stage_step, 0, text, digest=key, started=self._clock())
            self.steps[key] = begun
            self._current = begun
            self._on_event(Event("start", begun))
            return
        stripped = line.strip()
        step = self._current
        if step is not None and stripped == "---> Using cache":
            step.cached = True
            step.completed = step.started
            self._on_event(Event("cached", step))
            return
        if line.startswith(_LEGACY_ERRORS) or "returned a non-zero code" in line:
            self.messages.append(line)
            if step is not None and not step.done:
                step.error = line
                self._on_event(Event("error", step))
            return
        if step is not None and not stripped.startswith("--->"):
            step.logs.append(line)
        if stripped and not stripped.startswith("--->"):
            self._tail.append(line)
        self._on_event(Event("log", step, line))

    def error_lines(self) -> list[str]:
        """The classic builder's error lines, else the last lines it printed."""
        return list(self.messages) or [ln for ln in self._tail if ln.strip()][-5:]
