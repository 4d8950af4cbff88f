"""Results of a bake: per-step and per-stage figures, the summary table and the
JSON report (schema ``stagecache.report/v1``, documented in docs/schemas.md)."""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from stagecache.errors import StagecacheError, UsageError
from stagecache.explain import Miss
from stagecache.graph import Stage
from stagecache.progress import Step

REPORT_SCHEMA = "stagecache.report/v1"


@dataclass(frozen=True)
class StepResult:
    """One step of one stage."""

    stage: str
    number: int
    instruction: str
    line: int | None
    cached: bool
    seconds: float
    error: str | None = None
    platform: str | None = None
    """Set when the build was for several platforms: the step of that platform."""


@dataclass(frozen=True)
class StageResult:
    """One stage's figures."""

    stage: str
    status: str  # "built" | "failed" | "skipped"
    seconds: float = 0.0
    steps: tuple[StepResult, ...] = ()
    pushed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    """Tags of a pushed stage that were not pushed again: they already pointed at the image of
    a bake with the same inputs (see stagecache.fastpath)."""
    tags: tuple[str, ...] = ()
    copied_from: str = ""
    """The fallback branch's cache ref whose manifest was put under this stage's own ref in
    the registry, instead of an export (see stagecache.branchcopy)."""
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    built_in: str | None = None
    """Set when this stage has no build of its own and was built inside that stage's build."""
    import_errors: tuple[str, ...] = ()
    missing_caches: tuple[str, ...] = ()
    export_errors: tuple[str, ...] = ()
    started_at: float | None = None
    """Seconds from the start of the bake to the start of this stage's build."""
    finished_at: float | None = None
    export_seconds: float = 0.0
    """Time spent exporting this stage's cache: BuildKit's cache-export vertices, or for
    'classic' (whose cache is the stage image) the push of the stage image."""
    retries: int = 0
    """How many times the build or a push was tried again after a transient error (a race
    with another build of the project: see stagecache.transient)."""
    base: str = ""
    """The image the stage starts from as BuildKit resolved it (``image@sha256:...``), from its
    ``FROM`` step; empty for a stage built FROM another stage, or when BuildKit did not say."""
    first_miss: Miss | None = None
    """The first step that missed, and why (stagecache.explain)."""

    def cache_sources(self) -> tuple[tuple[str, str], ...]:
        """Each imported cache with what BuildKit said of it: "imported", "missing" or "failed".

        BuildKit reports which caches it could load, not which one served a given step;
        when several loaded (own branch, fallback branch, upstream stages), any may have.
        """
        out = []
        for spec in self.cache_from:
            source = source_of(spec)
            if any(mentions(m, source) for m in self.missing_caches):
                out.append((spec, "missing"))
            elif any(mentions(e, source) for e in self.import_errors):
                out.append((spec, "failed"))
            else:
                out.append((spec, "imported"))
        return tuple(out)

    @property
    def cached(self) -> int:
        """Steps that were cache hits."""
        return sum(1 for s in self.steps if s.cached)

    @property
    def executed(self) -> int:
        """Steps that ran."""
        return sum(1 for s in self.steps if not s.cached and s.error is None)

    @property
    def hit_ratio(self) -> float | None:
        """Cache hits / steps, or None for a stage without steps."""
        return self.cached / len(self.steps) if self.steps else None


class StageTotals:
    """Step totals over ``self.stages`` (a bake, or one measured bake of the bench)."""

    stages: tuple[StageResult, ...]

    @property
    def steps(self) -> int:
        """All steps of all stages."""
        return sum(len(s.steps) for s in self.stages)

    @property
    def cached(self) -> int:
        """All cache hits."""
        return sum(s.cached for s in self.stages)

    @property
    def hit_ratio(self) -> float | None:
        """Overall cache hits / steps."""
        return self.cached / self.steps if self.steps else None


@dataclass(frozen=True)
class BakeResult(StageTotals):
    """A whole bake."""

    status: str  # "success" | "failed" | "interrupted"
    target: str
    cache_mode: str
    registry_mode: str
    stages: tuple[StageResult, ...]
    seconds: float
    warnings: tuple[str, ...] = ()
    engine: dict[str, str] = field(default_factory=dict)
    frontend: dict[str, object] = field(default_factory=dict)
    """The Dockerfile frontend the plan followed (see Frontend.to_json)."""
    gate: tuple[str, ...] | None = None
    """The cache-hit gate's verdict when one is configured: why it failed (empty: it passed)."""
    error: StagecacheError | None = field(default=None, compare=False, repr=False)
    """The error that stopped the bake (not in the JSON report: its message is the CLI's)."""

    @property
    def cold(self) -> bool:
        """No step was a cache hit: a first run, or caches that were all missing."""
        return self.steps > 0 and self.cached == 0


def mentions(text: str, name: str) -> bool:
    """Whether a builder message names the cache ``name`` (a ref or a folder) itself, not one
    whose name only starts with it (``.../cache/app`` in a message about ``.../cache/app-debug``)."""
    return re.search(re.escape(name) + r"(?![\w./-])", text) is not None


def source_of(spec: str) -> str:
    """The ref or directory of a ``type=...,ref=X`` / ``src=X`` cache option (or a bare image)."""
    for part in spec.split(","):
        key, _, value = part.partition("=")
        if key in ("ref", "src"):
            return value
    return spec


def base_of(label: str, image: str, steps: Iterable[Step], default: str = "") -> str:
    """The image stage ``label`` starts from (``image``, as the Dockerfile names it) as BuildKit
    resolved it: ``docker.io/library/gcc:13@sha256:...``, from a ``FROM`` step of the build's
    progress. Stages that start from the same image share one vertex, named after one of them
    (which one varies), so a stage without a FROM step of its own takes the one that pulled
    its image. ``default``: the label of steps that name no stage (a one-stage build)."""
    pulls = [
        (s.stage or default, s.instruction.split(None, 1)[1].strip())
        for s in steps
        if s.is_pull and " " in s.instruction.strip()
    ]
    for stage, ref in pulls:
        if stage == label:
            return ref
    want = _normal(image)
    return next((ref for _, ref in pulls if image and _normal(ref.partition("@")[0]) == want), "")


def _normal(ref: str) -> str:
    """An image name as BuildKit spells it in progress: registry, repository and tag in full."""
    name = ref.partition("@")[0]
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def step_results(
    stage: Stage | None,
    label: str,
    steps: Iterable[Step],
    platform: str | None = None,
    stage_for: Callable[[str | None], Stage | None] | None = None,
) -> tuple[StepResult, ...]:
    """Turn progress steps of one stage into results, with Dockerfile line numbers.

    The Dockerfile line of ``[stage i/n]`` comes from the stage graph, which numbers the
    vertices as BuildKit does (see stagecache.graph). The ``FROM`` pull is not a step.
    ``platform``: the one platform the build was for, when BuildKit did not name it (it names
    platforms only in a build for several). ``stage_for(platform)``: the stage as that
    platform's graph has it (its steps may differ, e.g. FROM base-${TARGETARCH})."""
    out = []
    for s in sorted(steps, key=lambda s: (s.platform or "", s.number)):
        if s.is_pull:
            continue
        own = stage_for(s.platform or platform) if stage_for is not None else stage
        instr = own.step(s.number) if own is not None else None
        out.append(
            StepResult(
                stage=label,
                number=s.number,
                instruction=s.instruction.splitlines()[0] if s.instruction else "",
                line=instr.line if instr is not None else None,
                cached=s.cached,
                seconds=round(0.0 if s.cached else s.seconds, 3),
                error=s.error,
                platform=s.platform or platform,
            )
        )
    return tuple(out)


def _pct(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.0f}%"


def render_table(rows: Sequence[Sequence[str]], header: Sequence[str], right: Sequence[int] = ()) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in pairs]
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)])


def summary(result: BakeResult) -> str:
    """The end-of-bake table: stage, steps, cached, hit %, seconds, pushed."""
    rows = []
    for s in result.stages:
        where = ", ".join(s.pushed) if s.pushed else ("(local) " + ", ".join(s.tags[:1]) if s.tags else "")
        if s.unchanged and not s.pushed:
            where = ", ".join(s.unchanged) + " (unchanged)"
        if s.built_in:
            where = f"(built within {s.built_in})"
        if s.status != "built":
            where = s.status
        seconds = "-" if s.status == "skipped" and not s.steps else f"{s.seconds:.1f}"  # never started: no time
        rows.append([s.stage, str(len(s.steps)), str(s.cached), _pct(s.hit_ratio), seconds, where])
    rows.append(["total", str(result.steps), str(result.cached), _pct(result.hit_ratio), f"{result.seconds:.1f}", ""])
    table = render_table(rows, ["stage", "steps", "cached", "hit", "seconds", "image"], right=(1, 2, 3, 4))
    lines = [table]
    imports = [(s.stage, e) for s in result.stages for e in s.import_errors]
    exports = [(s.stage, e) for s in result.stages for e in s.export_errors]
    lines.extend(_grouped("cache import failed", imports))
    lines.extend(_grouped("cache export failed", exports, "the next run will not have {}"))
    if result.cold and result.status == "success":
        lines.append("cold build: no step came from cache (first run, or no cache was found to import).")
    lines.extend(_engine_hits(result))
    lines.extend(_why(result))
    return "\n".join(lines)


def _why(result: BakeResult) -> list[str]:
    """``why:`` and a line per stage that missed: its first missed step and the cause."""
    missed = [s for s in result.stages if s.first_miss is not None]
    if not missed:
        return []
    width = max(len(s.stage) for s in missed)
    return ["why:", *(f"  {s.stage:<{width}}  {s.first_miss.describe()}" for s in missed if s.first_miss)]


def _engine_hits(result: BakeResult) -> list[str]:
    """A note when stages hit steps although none of the caches they import was there: those
    hits came from the engine's own build cache, which a fresh CI runner does not have, so
    the hit ratio says nothing of what CI will see."""
    stages = [
        s
        for s in result.stages
        if s.cached and s.cache_from and all(state != "imported" for _, state in s.cache_sources())
    ]
    if not stages:
        return []
    names = ", ".join(s.stage for s in stages)
    hits = sum(s.cached for s in stages)
    steps, came = ("1 cached step", "it came") if hits == 1 else (f"{hits} cached steps", "they came")
    return [
        f"note: {names}: {steps} with none of {'its' if len(stages) == 1 else 'their'} caches found or imported: "
        f"{came} from this engine's own build cache (earlier builds on this machine, or a step another stage of "
        "this bake ran first), which a fresh CI runner starts without."
    ]


_VARYING = (
    (re.compile(r'"[^"]*"'), '""'),  # URLs BuildKit quotes
    (re.compile(r"sha256:[0-9a-f]{6,}"), "sha256:"),
    (re.compile(r"\S+/\S+?(?=: )"), "REF"),  # a cache ref or path before its error
)


def _grouped(what: str, errors: list[tuple[str, str]], then: str = "") -> list[str]:
    """One warning line per distinct failure: errors that differ only in the cache ref, URL
    or digest they name (a registry that is down fails every import the same way) are said
    once, with how many there were and for which stages."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for stage, error in errors:
        key = error
        for pattern, replacement in _VARYING:
            key = pattern.sub(replacement, key)
        groups.setdefault(key, []).append((stage, error))
    lines = []
    for same in groups.values():
        stage, first = same[0]
        if len(same) == 1:
            after = ", " + then.format("this cache") if then else ""
            lines.append(f"warning: {stage}: {what}{after}: {first}")
            continue
        stages = ", ".join(dict.fromkeys(s for s, _ in same))
        after = "; " + then.format("these caches") if then else ""
        lines.append(f"warning: {what} {len(same)} times (stages {stages}){after}; each like this one: {first}")
    return lines


def to_markdown(result: BakeResult) -> str:
    """The summary as Markdown, for a CI job summary (GITHUB_STEP_SUMMARY)."""
    ratio = _pct(result.hit_ratio)
    title = {"success": "succeeded", "failed": "FAILED", "interrupted": "was interrupted"}.get(result.status, "")
    out = [
        f"### stagecache bake {title}: {ratio} of steps from cache",
        "",
        f"Target `{result.target}`, cache mode `{result.cache_mode}`"
        + (f" ({result.registry_mode})" if result.cache_mode == "registry" else "")
        + f", {result.seconds:.1f}s.",
        "",
        "| stage | steps | cached | hit | seconds | pushed | caches imported |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for s in result.stages:
        sources = ", ".join(f"`{source_of(spec)}` ({state})" for spec, state in s.cache_sources()) or "-"
        pushed = ", ".join(f"`{t}`" for t in s.pushed) or ", ".join(f"`{t}` (unchanged)" for t in s.unchanged)
        pushed = pushed or ("-" if s.status == "built" else s.status)
        cells = [s.stage, str(len(s.steps)), str(s.cached), _pct(s.hit_ratio), f"{s.seconds:.1f}", pushed, sources]
        out.append("| " + " | ".join(cells) + " |")
    out.append(f"| **total** | {result.steps} | {result.cached} | {ratio} | {result.seconds:.1f} | | |")
    notes = [f"- {s.stage}: cache import failed: {e}" for s in result.stages for e in s.import_errors]
    notes += [f"- **{s.stage}: cache export failed**: {e}" for s in result.stages for e in s.export_errors]
    if notes:
        out += ["", *notes]
    why = [f"- **{s.stage}** {_md(s.first_miss.describe())}" for s in result.stages if s.first_miss is not None]
    if why:
        out += ["", "Why stages missed (the first missed step of each):", "", *why]
    out += [
        "",
        "_BuildKit reports which caches it could import, not which one served each step._",
        "",
    ]
    return "\n".join(out)


_MARKDOWN = re.compile(r"([\\`*_\[\]<>|])")


def _md(text: str) -> str:
    """``text`` with Markdown's special characters escaped (instructions hold ``*``, ``|``...)."""
    return _MARKDOWN.sub(r"\\\1", text)


def to_json(result: BakeResult) -> dict:
    """The report as a JSON-ready dict (schema ``stagecache.report/v1``)."""
    stages = []
    for s in result.stages:
        d = asdict(s)
        d.update(
            {
                "steps_total": len(s.steps),
                "steps_cached": s.cached,
                "steps_executed": s.executed,
                "hit_ratio": s.hit_ratio,
                "cache_sources": [{"cache": spec, "state": state} for spec, state in s.cache_sources()],
                "steps": [asdict(st) for st in s.steps],
                "first_miss": None if s.first_miss is None else s.first_miss.to_json(),
            }
        )
        stages.append(d)
    return {
        "schema": REPORT_SCHEMA,
        "status": result.status,
        "target": result.target,
        "cache_mode": result.cache_mode,
        "registry_mode": result.registry_mode,
        "seconds": round(result.seconds, 3),
        "steps_total": result.steps,
        "steps_cached": result.cached,
        "hit_ratio": result.hit_ratio,
        "cold": result.cold,
        "gate": None if result.gate is None else {"passed": not result.gate, "problems": list(result.gate)},
        "warnings": list(result.warnings),
        "engine": dict(result.engine),
        "frontend": dict(result.frontend),
        "stages": stages,
    }


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (temp file + rename), so a reader never sees half a report."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write a file stagecache produces (a report, a bake file): see :func:`write_file`."""
    data = text.encode("utf-8")
    write_file(path, lambda fh: fh.write(data))


def write_file(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Create or replace ``path`` with what ``write`` writes to a binary file, atomically: into
    a new file in the same folder, then renamed over ``path``, so a reader (a CI step, a
    browser) never sees half a file. The file gets the mode ``open()`` would give it: that
    of the file it replaces, else 0666 less the umask (0644 under the usual 022). A path
    that cannot be written is a UsageError naming it, not a traceback."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _new_file_beside(path)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _keep_mode(path, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _cannot_write(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _new_file_beside(path: Path) -> tuple[int, Path]:
    """A new, empty hidden file next to ``path``, created as ``open()`` creates files (mode
    0666, less the umask), unlike ``tempfile.mkstemp`` (always 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path.parent))


def _keep_mode(path: Path, tmp: Path) -> None:
    """Give ``tmp`` the permissions of the regular file it is about to replace, if any."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode):
        os.chmod(tmp, stat.S_IMODE(st.st_mode))


def _cannot_write(path: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot write {path}: {exc.strerror or exc}. Choose a path in a folder you can write to.")
