"""Conformance of stagecache.graph with BuildKit, BuildKit being the oracle.

Each case of tests/conformance/cases.toml is a tiny Dockerfile; for each of its targets it is
built on the real engine (``--progress=rawjson``, result kept in BuildKit's cache only) and
the harness reads, from the step labels of the vertices BuildKit solved, which stages it
solved and how many steps each had (tests/conformance/oracle.py, independent of stagecache).
stagecache must agree: refuse the files and targets BuildKit refuses, and otherwise plan
exactly the stages BuildKit solved, with the same number of steps. See
tests/conformance/README.md.

Only stagecache's public graph API is used: graph.parse_for_engine (what bake uses: the
engine is asked which frontend rules it follows when the file's meaning depends on them),
StageGraph.build_order, Stage.label and Stage.steps.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stagecache import graph
from stagecache.errors import DockerfileError
from stagecache.runner import Runner
from tests.conformance import oracle
from tests.conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# Every case is built once, by the first test that asks (``solves``): under pytest-xdist every
# conformance test runs on one worker, or each worker would build every case.
pytestmark = pytest.mark.xdist_group("conformance")

CONFORMANCE = ROOT / "tests" / "conformance"
CASES_TOML = CONFORMANCE / "cases.toml"
CASES_DIR = CONFORMANCE / "cases"
WORKERS = 8
DEFAULT_ID = "default"

# Errors that say the engine, not the Dockerfile, is the problem: never an oracle answer.
ENGINE_TROUBLE = (
    "Cannot connect to the Docker daemon",
    "network bridge not found",
    "did not complete successfully",  # a RUN step of a case failed: fix the case
    "no space left on device",
)

CASE_KEYS = {
    "file",
    "targets",
    "build_args",
    "platforms",
    "context",
    "why",
    "buildkit_error",
    "builtin_frontend",
    "local_images",
}


@dataclass(frozen=True)
class Case:
    name: str
    file: Path
    targets: tuple[str, ...]
    why: str
    build_args: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    context: Mapping[str, str] = field(default_factory=dict)
    buildkit_error: Mapping[str, str] = field(default_factory=dict)  # target -> expected error text
    builtin_frontend: str = ""
    local_images: Mapping[str, str] = field(default_factory=dict)  # tag -> local image to tag it from

    def expected_error(self, target: str) -> str | None:
        return self.buildkit_error.get(target)


def load_cases() -> dict[str, Case]:
    data = tomllib.loads(CASES_TOML.read_text())
    cases: dict[str, Case] = {}
    for name, table in data.items():
        unknown = set(table) - CASE_KEYS
        if unknown:
            raise ValueError(f"cases.toml [{name}]: unknown keys {sorted(unknown)}")
        targets = tuple(table["targets"])
        errors = table.get("buildkit_error", {})
        if isinstance(errors, str):
            errors = dict.fromkeys(targets, errors)
        cases[name] = Case(
            name=name,
            file=CASES_DIR / table["file"],
            targets=targets,
            why=table["why"],
            build_args={k: str(v) for k, v in table.get("build_args", {}).items()},
            platforms=tuple(table.get("platforms", ())),
            context=dict(table.get("context", {})),
            buildkit_error=dict(errors),
            builtin_frontend=table.get("builtin_frontend", ""),
            local_images=dict(table.get("local_images", {})),
        )
    return cases


CASES = load_cases()


def pair_id(case: str, target: str) -> str:
    return f"{case}[{target or DEFAULT_ID}]"


PAIRS = [pytest.param(name, target, id=pair_id(name, target)) for name, c in CASES.items() for target in c.targets]


# --- running the oracle ---------------------------------------------------------------------


def _make_context(case: Case, root: Path) -> Path:
    context = root / case.name
    context.mkdir(parents=True, exist_ok=True)
    for rel, content in case.context.items():
        path = context / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return context


# Seen twice on this engine (dockerd 26.1.5, containerd image store, 2026-11-29), both times on
# an engine wiped minutes before: for an image the harness tagged
# locally (`0:latest`, for mount-from-index), BuildKit resolved the local digest, then asked
# Docker Hub for that manifest ("failed to load cache key: ... Head
# https://registry-1.docker.io/v2/library/0/manifests/sha256:..."), which this offline machine
# cannot reach; the same build alone, or run again, took the local image. It is the engine's
# fetch, not an answer about the Dockerfile: the harness now builds such an image (FROM its
# source) rather than tagging it, and a build that fails this way is run once more; any other
# failure stands.
_LOCAL_IMAGE_FETCHED = re.compile(r"failed to load cache key: .*registry-1\.docker\.io/v2/library/")


def _solve_case(case: Case, context: Path, targets: list[str]) -> dict[str, oracle.Solve]:
    # One target after the other: concurrent builds of the same file share vertices, and
    # BuildKit merges vertices with equal cache keys across builds (a COPY from two build
    # contexts with the same content), which would show one build the other's vertices.
    out = {}
    for t in targets:
        solve = oracle.solve(case.file, context, t, case.build_args, case.platforms)
        if case.local_images and not solve.ok and _LOCAL_IMAGE_FETCHED.search(solve.error):
            solve = oracle.solve(case.file, context, t, case.build_args, case.platforms)
        out[t] = solve
    return out


@pytest.fixture(scope="session")
def solves(request: pytest.FixtureRequest, engine, tmp_path_factory: pytest.TempPathFactory):
    """Build every selected (case, target) once: cases in parallel, the targets of a case one
    after the other. Returns case -> Future[{target: Solve}]."""
    selected: dict[str, list[str]] = {}
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "originalname", "") == "test_conformance" and callspec is not None:
            selected.setdefault(callspec.params["case"], []).append(callspec.params["target"])
    root = tmp_path_factory.mktemp("conformance")
    created: list[str] = []
    for name in selected:
        for tag, source in CASES[name].local_images.items():
            if tag not in created and not _image_exists(tag):
                # Built (FROM the source), not `docker tag`ged: see _LOCAL_IMAGE_FETCHED.
                subprocess.run(
                    ["docker", "buildx", "build", "--load", "--tag", tag, "-"],
                    input=f"FROM {source}\n",
                    text=True,
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                created.append(tag)
    futures: dict[str, Future[dict[str, oracle.Solve]]] = {}
    # The biggest cases first, so that they do not finish last.
    order = sorted(selected, key=lambda name: -CASES[name].file.stat().st_size * len(selected[name]))
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="conformance") as pool:
        for name in order:
            case = CASES[name]
            futures[name] = pool.submit(_solve_case, case, _make_context(case, root), selected[name])
        try:
            yield futures
        finally:
            for f in futures.values():
                f.cancel()
    for tag in created:  # untag only: the image keeps its other names
        subprocess.run(["docker", "image", "rm", tag], capture_output=True, timeout=60)


def _image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True, timeout=60).returncode == 0


# --- the stagecache side --------------------------------------------------------------------


@dataclass
class Plan:
    platform: str | None
    counts: dict[str, int] | None  # label -> steps (stages with steps only); None when refused
    error: str = ""
    order: tuple[str, ...] = ()

    @property
    def only_label(self) -> str | None:
        return self.order[0] if len(self.order) == 1 else None


@functools.cache
def engine_frontend_is_current() -> bool:
    """The answer bake gets from this engine (stagecache.runner), asked once."""
    return Runner().builtin_frontend_is_current()


def stagecache_plan(case: Case, target: str, platform: str | None) -> Plan:
    try:
        # As bake reads it: by the rules of the engine's frontend where the file's meaning depends on them.
        g = graph.parse_for_engine(case.file, dict(case.build_args) or None, platform, engine_frontend_is_current)
        order = g.build_order(target or None)
    except DockerfileError as exc:
        return Plan(platform, None, error=str(exc))
    counts: dict[str, int] = {}
    for stage in order:
        n = len(stage.steps)
        if n:
            counts[stage.label] = counts.get(stage.label, 0) + n
    return Plan(platform, counts, order=tuple(s.label for s in order))


# --- comparing ------------------------------------------------------------------------------


def oracle_counts(result: oracle.Solve, platform: str, only_label: str | None) -> dict[str, int]:
    """label -> distinct step vertices BuildKit solved for it. BuildKit prints no stage name
    when the file has a single stage: that one is named after stagecache's single planned
    stage (its name cannot be observed), or stage-0."""
    out: dict[str, int] = {}
    for stage, steps in result.stage_steps(platform).items():
        label = stage or only_label or "stage-0"
        out[label] = out.get(label, 0) + len({s.digest for s in steps})
    return out


def describe_oracle(result: oracle.Solve, platform: str = "") -> str:
    lines = []
    for _stage, steps in sorted(result.stage_steps(platform).items()):
        lines += [f"      {s.name[:110]}" for s in steps]
    return "\n".join(lines) or "      (no step vertex)"


def diff_counts(buildkit: Mapping[str, int], ours: Mapping[str, int]) -> list[str]:
    out = []
    for label in sorted(set(buildkit) | set(ours)):
        b, o = buildkit.get(label), ours.get(label)
        if b == o:
            continue
        if b is None:
            out.append(f"{label}: planned by stagecache ({o} steps), not solved by BuildKit")
        elif o is None:
            out.append(f"{label}: solved by BuildKit ({b} steps), not planned by stagecache")
        else:
            out.append(f"{label}: BuildKit {b} steps, stagecache {o}")
    return out


def check_oracle(case: Case, target: str, result: oracle.Solve) -> None:
    """Fail (as a harness or case problem, not a stagecache one) when the build says nothing
    about the Dockerfile: engine trouble, a refusal the case does not record, steps that
    cannot be attributed to a requested platform."""
    where = f"{pair_id(case.name, target)}: harness/case problem, not a stagecache disagreement"
    cmd = " ".join(result.argv)
    if not result.ok:
        for trouble in ENGINE_TROUBLE:
            if trouble in result.error:
                pytest.fail(f"{where}: the engine failed: {result.error}\n  {cmd}", pytrace=False)
        expected = case.expected_error(target)
        if expected is None:
            pytest.fail(
                f"{where}: BuildKit refused a build the case does not expect to be refused "
                f"(add buildkit_error to the case if this is the idiom):\n  {result.error}\n  {cmd}",
                pytrace=False,
            )
        if expected not in result.error:
            pytest.fail(
                f"{where}: BuildKit refused it for another reason than the case records\n"
                f"  expected: {expected}\n  got:      {result.error}\n  {cmd}",
                pytrace=False,
            )
        return
    if case.expected_error(target) is not None:
        pytest.fail(
            f"{where}: the case records a refusal ({case.expected_error(target)!r}) but BuildKit built it\n  {cmd}",
            pytrace=False,
        )
    wanted = {oracle.normalize_platform(p) for p in case.platforms} if len(case.platforms) > 1 else {""}
    stray = oracle.platforms_seen_outside(result, wanted)
    if stray:
        pytest.fail(f"{where}: steps of no requested platform:\n" + "\n".join(stray) + f"\n  {cmd}", pytrace=False)
    if not any(not s.is_from for s in result.steps):
        pytest.fail(f"{where}: BuildKit solved no step at all; make the target observable\n  {cmd}", pytrace=False)


@pytest.mark.parametrize(("case", "target"), PAIRS)
def test_conformance(case: str, target: str, solves) -> None:
    c = CASES[case]
    result: oracle.Solve = solves[case].result()[target]
    check_oracle(c, target, result)
    head = f"{pair_id(case, target)}: stagecache disagrees with BuildKit ({c.why})"
    cmd = " ".join(result.argv)
    platforms: list[str | None] = [oracle.normalize_platform(p) for p in c.platforms] or [None]
    plans = [stagecache_plan(c, target, p) for p in platforms]

    if not result.ok:
        if all(p.counts is not None for p in plans):
            got = "; ".join(f"{p.platform or 'default platform'}: {p.counts}" for p in plans)
            pytest.fail(
                f"{head}\n  BuildKit refused it:  {result.error}\n  stagecache accepted: {got}\n  {cmd}",
                pytrace=False,
            )
        return

    problems: list[str] = []
    for plan in plans:
        label = plan.platform or "default platform"
        key = plan.platform if len(c.platforms) > 1 else ""
        if plan.counts is None:
            problems.append(
                f"  [{label}] BuildKit built it; stagecache refused: {plan.error}\n"
                f"    BuildKit solved: {oracle_counts(result, key or '', None)}\n{describe_oracle(result, key or '')}"
            )
            continue
        buildkit = oracle_counts(result, key or "", plan.only_label)
        if buildkit != plan.counts:
            problems.append(
                f"  [{label}] " + "; ".join(diff_counts(buildkit, plan.counts)) + "\n"
                f"    BuildKit solved (label: steps): {dict(sorted(buildkit.items()))}\n"
                f"    stagecache plan (label: steps): {dict(sorted(plan.counts.items()))}"
                f"  build order: {list(plan.order)}\n"
                f"    BuildKit's step vertices:\n{describe_oracle(result, key or '')}"
            )
    if problems:
        pytest.fail(head + "\n" + "\n".join(problems) + f"\n  {cmd}", pytrace=False)


# --- the corpus itself ----------------------------------------------------------------------

STEP_LINE = re.compile(r"^\s*(run|copy|add|workdir)\s+(.*)$", re.IGNORECASE)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction with its continuation lines joined); comments and empty
    lines inside a continued instruction are dropped, as BuildKit's parser does."""
    lines = text.splitlines()
    escape = "`" if lines and re.match(r"^#\s*escape\s*=\s*`", lines[0]) else "\\"
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if current and (not stripped or stripped.startswith("#")):
            continue
        if not current:
            start = n
        if stripped.endswith(escape):
            current.append(stripped[:-1])
            continue
        current.append(stripped)
        out.append((start, " ".join(current)))
        current = []
    if current:
        out.append((start, " ".join(current)))
    return out


def test_corpus_is_well_formed() -> None:
    """Every case file exists and is used once; every step line is unique across the corpus,
    so that BuildKit never merges two steps into one vertex (vertices are shared by digest,
    across stages and across concurrent builds, and named after whichever came first)."""
    problems: list[str] = []
    files = {c.file.name for c in CASES.values()}
    on_disk = {p.name for p in CASES_DIR.glob("*.Dockerfile")}
    if len(files) != len(CASES):
        problems.append("two cases share a file")
    problems += [f"{name}: no case uses it" for name in sorted(on_disk - files)]
    problems += [f"{name}: listed, but missing" for name in sorted(files - on_disk)]
    seen: dict[str, str] = {}
    for c in CASES.values():
        if not c.why:
            problems.append(f"{c.name}: no why")
        if not c.targets:
            problems.append(f"{c.name}: no targets")
        if DEFAULT_ID in c.targets:
            problems.append(f"{c.name}: a stage named {DEFAULT_ID!r} would clash with the id of the default target")
        problems += [
            f"{c.name}: buildkit_error for unknown target {t!r}" for t in c.buildkit_error if t not in c.targets
        ]
        if not c.file.is_file():
            continue
        for n, line in logical_lines(c.file.read_text()):
            m = STEP_LINE.match(line)
            if not m or m.group(2).strip() in ("/", "") or "<<" in line:
                continue
            key = " ".join(line.split()).lower()
            if key in seen:
                problems.append(f"{c.name}:{n}: step line also in {seen[key]}: {line.strip()}")
            seen[key] = f"{c.name}:{n}"
    assert not problems, "\n".join(problems)


def test_oracle_reads_step_labels() -> None:
    """The label reader on the label shapes this engine prints."""
    cases = {
        "[build  2/12] RUN echo x": ("", "build", 2, 12),
        "[ 2/12] RUN echo x": ("", "", 2, 12),
        "[12/12] RUN echo x": ("", "", 12, 12),
        "[big 101/111] WORKDIR /d": ("", "big", 101, 111),
    }
    for name, (platform, stage, i, n) in cases.items():
        step = oracle.parse_step(oracle.Vertex("d", name), multi_platform=False)
        assert step is not None and (step.platform, step.stage, step.index, step.total) == (platform, stage, i, n), name
    multi = {
        "[linux/amd64 final 1/1] RUN echo x": ("linux/amd64", "final"),
        "[linux/amd64->arm64 final 1/1] RUN echo x": ("linux/arm64", "final"),
        "[linux/arm64 out 1/1] COPY --from=final /a /b": ("linux/arm64", "out"),
        "[linux/amd64->windows/amd64 w 2/2] RUN x": ("windows/amd64", "w"),
        "[linux/amd64->arm/v7 w 2/2] RUN x": ("linux/arm/v7", "w"),
        "[linux/amd64 2/3] RUN x": ("linux/amd64", ""),
    }
    for name, (platform, stage) in multi.items():
        step = oracle.parse_step(oracle.Vertex("d", name), multi_platform=True)
        assert step is not None and (step.platform, step.stage) == (platform, stage), name
    for name in ("[internal] load build definition from Dockerfile", "[linux/amd64 internal] load metadata for x"):
        assert oracle.parse_step(oracle.Vertex("d", name), multi_platform=True) is None
    objects, text = oracle.decode_stream(
        '{\n "vertexes": [\n  {"digest": "a", "name": "n"}\n ]\n}\nERROR: boom\n{"x": 1}'
    )
    assert len(objects) == 2 and text == ["ERROR: boom"]
