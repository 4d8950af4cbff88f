"""The progress reader and the stage graph against BuildKit streams recorded on the real engine
(tests/data/rawjson: scripts/record-fixtures.py wrote them, MANIFEST.json says how).

For every recorded build, the steps stagecache reads from the stream must be exactly the
steps its stage graph predicts for that Dockerfile, target and platform: same stages, same
step numbers (padded ones included), same Dockerfile lines."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from stagecache import graph
from stagecache.progress import BuildProgress, parse_step_name
from stagecache.report import base_of, step_results
from tests.conftest import DATA

RAW = DATA / "rawjson"
SCENARIOS: dict = json.loads((RAW / "MANIFEST.json").read_text())["scenarios"]
RECORDINGS = [(name, rec) for name, sc in SCENARIOS.items() for rec in sc["recordings"]]
BUILDS = [(name, rec) for name, rec in RECORDINGS if rec["argv"][2] == "build"]


def option(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def feed(rec: dict, chunk: int = 4096) -> BuildProgress:
    text = (RAW / rec["file"]).read_text()
    p = BuildProgress()
    for i in range(0, len(text), chunk):
        p.feed(text[i : i + chunk])
    p.close()
    return p


def observed(p: BuildProgress, multi: bool, single: str | None) -> dict[tuple[str | None, str], set[int]]:
    """(platform, stage) -> the step numbers BuildKit reported (the FROM pull aside)."""
    out: dict[tuple[str | None, str], set[int]] = defaultdict(set)
    for s in p.steps.values():
        if not s.is_pull:
            out[(s.platform if multi else None, s.stage or single or "")].add(s.number)
    return dict(out)


@pytest.mark.parametrize(("name", "rec"), BUILDS, ids=[r["file"] for _, r in BUILDS])
def test_recorded_steps_are_the_steps_the_graph_predicts(name: str, rec: dict) -> None:
    argv = rec["argv"]
    dockerfile = RAW / SCENARIOS[name]["dockerfile"]
    target = option(argv, "--target")
    platforms = (option(argv, "--platform") or "").split(",") if "--platform" in argv else [None]
    multi = len(platforms) > 1
    expected: dict[tuple[str | None, str], set[int]] = {}
    single = None
    for platform in platforms:
        g = graph.parse(dockerfile, {}, platform)
        if len(g.stages) == 1:
            single = g.stages[0].label
        for stage in g.build_order(target):
            if stage.steps:
                expected[(platform if multi else None, stage.label)] = {i.step for i in stage.steps if i.step}
    p = feed(rec)
    seen = observed(p, multi, single)
    # Another build running at the same time may lend a shared vertex its own stage name
    # (concurrent-shared-from: "[holder 1/2] FROM ..."): only pulls, which are not steps.
    assert seen == expected
    if rec["exit_code"] == 0:
        assert p.failed_step() is None
    if rec["run"].startswith("warm") or rec["run"] == "import-fresh":
        assert all(s.cached for s in p.steps.values() if not s.is_pull), rec["file"]
    if rec["run"] == "cold" and rec["exit_code"] == 0:
        assert not any(s.cached for s in p.steps.values() if not s.is_pull), rec["file"]


def test_twelve_steps_report_every_step_with_its_line() -> None:
    rec = next(r for n, r in BUILDS if r["file"] == "twelve-steps.warm.rawjson")
    g = graph.parse(RAW / "twelve-steps.Dockerfile", {}, None)
    p = feed(rec)
    rows = step_results(g.find("build"), "build", [s for s in p.steps.values() if s.stage == "build"])
    assert [(r.number, r.line, r.cached) for r in rows] == [(n, n, True) for n in range(2, 13)]
    assert rows[8].instruction == 'RUN echo "twelve-steps step 10" > /step-010.txt'


def test_a_failure_in_step_5_of_12_names_the_step_and_keeps_its_output() -> None:
    rec = next(r for n, r in BUILDS if r["file"] == "fail-step-5-of-12.cold.rawjson")
    p = feed(rec)
    failed = p.failed_step()
    assert failed is not None and (failed.stage, failed.number, failed.total) == ("build", 5, 12)
    assert "exit code: 3" in failed.error
    assert any("fail-step-5-of-12" in line for line in failed.logs)
    assert any(line.startswith("ERROR: failed to solve") for line in p.error_lines())
    # The steps after it never ran and none of them is counted as a hit.
    assert not any(s.cached for s in p.steps.values() if s.number > 5)


def test_hundred_steps_are_all_read() -> None:
    rec = next(r for n, r in BUILDS if r["file"] == "hundred-steps.warm.rawjson")
    p = feed(rec, chunk=97)
    numbers = sorted(s.number for s in p.steps.values() if not s.is_pull)
    assert numbers == list(range(2, 106))


def test_two_platforms_keep_their_steps_apart() -> None:
    rec = next(r for n, r in BUILDS if r["file"] == "two-platforms.cold.rawjson")
    p = feed(rec)
    by = sorted((s.platform, s.stage, s.number) for s in p.steps.values() if not s.is_pull)
    assert by == [
        ("linux/amd64", "build", 2),
        ("linux/amd64", "build", 3),
        ("linux/amd64", "out", 1),
        ("linux/amd64", "out", 2),
        ("linux/arm64", "build", 2),  # "[linux/amd64->arm64 build 2/3]": built on amd64 for arm64
        ("linux/arm64", "build", 3),
        ("linux/arm64", "out", 1),
        ("linux/arm64", "out", 2),
    ]


EXPORTED = {
    "cold": {"app": 0.483, "base": 0.3187, "deps-a": 0.4199, "deps-b": 0.3473},
    "warm": {"app": 0.199, "base": 0.1657, "deps-a": 0.2561, "deps-b": 0.1909},
}


@pytest.mark.parametrize("run", ["cold", "warm"])
def test_a_bake_session_names_the_target_of_every_vertex(run: str) -> None:
    rec = next(r for n, r in RECORDINGS if r["file"] == f"bake-session.{run}.rawjson")
    p = feed(rec)
    targets = {s.target for s in p.steps.values()}
    assert targets == {"base", "deps-a", "deps-b", "app"}
    # Each target lists the steps of the stages it needs, under its own prefix (some of them
    # merged into another target's and never started there).
    listed = {t: {s.stage for s in p.steps.values() if s.target == t} for t in targets}
    assert listed == {
        "base": {"base"},
        "deps-a": {"base", "deps-a"},
        "deps-b": {"base", "deps-b"},
        "app": {"base", "deps-a", "deps-b", "app"},
    }
    # Cache export is timed per target from its own "[target] exporting cache" vertices, never
    # shared out: the exports overlap, so the session's total (their union) is less than the sum.
    exported = {t: round(p.export_seconds_of(t), 4) for t in sorted(targets)}
    assert exported == EXPORTED[run]
    assert round(p.export_seconds, 4) == {"cold": 0.5966, "warm": 0.2813}[run]
    if run == "cold":
        # buildx says so in plain WARNING lines, naming the directory, not the target.
        assert sorted(Path(m).name for m in p.facts[None].missing_caches) == ["app", "base", "deps-a", "deps-b"]


def test_a_failed_bake_session_points_at_the_failed_step() -> None:
    rec = next(r for n, r in RECORDINGS if r["file"] == "bake-session-fail.cold.rawjson")
    p = feed(rec)
    failed = p.failed_step()
    assert failed is not None and (failed.stage, failed.number) == ("deps-b", 1)
    assert failed.target in ("deps-b", "app")
    assert any('"/missing-file.txt": not found' in line for line in p.error_lines())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("[a a 2/3] WORKDIR /w", ("a", 2, 3, None, "a")),
        ("[b a 3/3] COPY f.txt .", ("a", 3, 3, None, "b")),
        ("[deps 2/4] WORKDIR /deps", ("deps", 2, 4, None, None)),
        ("[build  2/12] RUN x", ("build", 2, 12, None, None)),
        ("[build 12/12] RUN x", ("build", 12, 12, None, None)),
        ("[big   7/105] RUN x", ("big", 7, 105, None, None)),
        ("[ 2/11] RUN x", ("", 2, 11, None, None)),
        ("[10/11] RUN x", ("", 10, 11, None, None)),
        ("[linux/amd64 build 2/3] RUN y", ("build", 2, 3, "linux/amd64", None)),
        ("[linux/amd64->arm64 build 2/3] RUN y", ("build", 2, 3, "linux/arm64", None)),
        ("[linux/amd64->arm/v7 build  2/10] RUN y", ("build", 2, 10, "linux/arm/v7", None)),
        ("[linux/amd64->windows/amd64 b 1/1] RUN y", ("b", 1, 1, "windows/amd64", None)),
        ("[linux/arm64 3/4] RUN y", ("", 3, 4, "linux/arm64", None)),
        ("[app linux/arm64 out 1/2] COPY x y", ("out", 1, 2, "linux/arm64", "app")),
        ("[a 1/2] RUN echo 1/2] x", ("a", 1, 2, None, None)),
    ],
)
def test_step_names(name: str, expected: tuple) -> None:
    n = parse_step_name(name)
    assert n is not None and (n.stage, n.number, n.total, n.platform, n.target) == expected


@pytest.mark.parametrize("name", ["[internal] load build context", "[app] exporting cache", "exporting to image"])
def test_other_vertices_are_not_steps(name: str) -> None:
    assert parse_step_name(name) is None


def test_a_bake_session_gives_each_stage_its_own_cache_facts(tmp_path: Path) -> None:
    """buildx's plain WARNING lines name a cache directory: they go to each stage build that
    imports that cache (in a session, a stage imports its upstream stages' caches too); a line
    that names no stage's cache goes to the report as session-wide, never divided."""
    from stagecache import config as cfg
    from stagecache.bake import QuietDisplay
    from stagecache.execution import Execution
    from stagecache.plan import make_plan
    from stagecache.session import _session_facts

    (tmp_path / "Dockerfile").write_text((RAW / "bake-session.Dockerfile").read_text())
    # The recording's cache directories (its WARNING lines name them).
    (tmp_path / "stagecache.toml").write_text(
        '[cache]\nmode = "local"\nlocal_dir = "/tmp/scfx-car4o_sg/cache"\n[build]\nexecution = "bake"\n'
    )
    plan = make_plan(cfg.load(tmp_path / "stagecache.toml", overrides=cfg.Overrides(), env={}))
    rec = next(r for n, r in RECORDINGS if r["file"] == "bake-session.cold.rawjson")
    p = feed(rec)
    p.feed("WARNING: failed to configure registry cache importer: elsewhere.example/x:cache: denied\n")
    p.close()
    run = Execution(plan, None, QuietDisplay(), 0.0)  # type: ignore[arg-type]
    facts = _session_facts(plan, p, run)
    notes = run.notes
    imports = {"base": ["base"], "deps-a": ["base", "deps-a"], "deps-b": ["base", "deps-b"], "app": ["base"]}
    imports["app"] += ["deps-a", "deps-b", "app"]
    assert {stage: f.missing_caches for stage, f in facts.items()} == {
        stage: [f"/tmp/scfx-car4o_sg/cache/{s}" for s in caches] for stage, caches in imports.items()
    }
    assert notes == [
        "bake session (no single stage): WARNING: failed to configure registry cache importer: "
        "elsewhere.example/x:cache: denied"
    ]
    assert all(not f.import_errors for f in facts.values())


def test_stages_from_one_image_share_its_pull_and_each_gets_the_digest() -> None:
    # Recorded: base and final both start FROM stagecache/busybox:latest; BuildKit made one vertex
    # of the two pulls and named it after final only.
    p = feed({"file": "many-stages.cold.rawjson"})
    pulls = [s.instruction for s in p.steps.values() if s.is_pull]
    resolved = (
        "docker.io/stagecache/busybox:latest@sha256:a931c1baeb7b5b3ed85617db5ec5248045fd945a1ce44f12f8f7203bfdabefa7"
    )
    assert pulls == [f"FROM {resolved}"]
    assert base_of("final", "stagecache/busybox:latest", p.steps.values()) == resolved
    assert base_of("base", "stagecache/busybox:latest", p.steps.values()) == resolved
    assert base_of("base", "docker.io/stagecache/busybox", p.steps.values()) == resolved
    assert base_of("base", "stagecache/busybox:1.36", p.steps.values()) == ""  # another image: not this pull
