"""What stagecache reports and plans matches what BuildKit did, on the shapes real projects
have: 10+ steps in a stage, a failure in the middle, an unnamed stage in the middle, stages
chosen per platform, and a Dockerfile whose meaning depends on the frontend version."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from stagecache.bake import bake, check_gate
from stagecache.errors import BuildFailed, CacheGateFailed
from stagecache.runner import Runner
from tests.conftest import Engine
from tests.engine.conftest import Project, hits

STAGECACHE = str(Path(sys.executable).parent / "stagecache")


@pytest.fixture
def adhoc(engine: Engine, tmp_path: Path):
    """Factory: adhoc(dockerfile, files, mode, extra) -> a Project in a fresh folder, its
    Dockerfile built FROM the test registry's busybox ({BASE} in the text)."""
    runner = Runner()
    made: list[Project] = []

    def make(dockerfile: str, files: dict[str, str] | None = None, mode: str = "registry", extra: str = "") -> Project:
        owner = f"t{uuid.uuid4().hex[:8]}"
        root = tmp_path / f"{owner}-adhoc"
        root.mkdir()
        (root / "Dockerfile").write_text(dockerfile.replace("{BASE}", engine.base_image))
        (root / ".dockerignore").write_text(".stagecache/\nr.json\n")
        for name, text in (files or {}).items():
            (root / name).write_text(text)
        p = Project(root=root, engine=engine, repo=f"{owner}/adhoc", runner=runner)
        p.configure(mode, extra=extra)
        made.append(p)
        return p

    yield make
    for p in made:
        p.runner.remove_repositories(p.repositories)


def twelve(tag: str, failing: int | None = None) -> str:
    """A stage 'build' of FROM + 11 RUNs (BuildKit: [build  2/12] .. [build 12/12]), then 'final'."""
    steps = [f'RUN echo "{tag} {n}" > /s{n}' for n in range(2, 13)]
    if failing is not None:
        steps[failing - 2] = "RUN echo five-out && echo five-err >&2 && exit 3"
    return "FROM {BASE} AS build\n" + "\n".join(steps) + "\nFROM {BASE} AS final\nCOPY --from=build /s12 /s12\n"


def test_a_stage_of_twelve_steps_is_counted_step_by_step_and_gated(adhoc) -> None:
    p = adhoc(twelve(uuid.uuid4().hex))
    p.fresh_runner()
    cold = p.bake()
    assert hits(cold)["build"] == {n: False for n in range(2, 13)}
    assert [s.line for s in cold.stages[0].steps] == list(range(2, 13))
    p.fresh_runner()
    plan = p.plan(fail_under=100.0)
    warm = bake(plan, p.runner)
    assert hits(warm)["build"] == {n: True for n in range(2, 13)}
    assert warm.steps == 12 and warm.cached == 12
    check_gate(warm, plan)
    # An input of step 3 changes: steps 3-12 rerun. The gate sees 1 hit in 11, not "3 of 3".
    text = (p.root / "Dockerfile").read_text().replace('" > /s3', ' changed" > /s3')
    (p.root / "Dockerfile").write_text(text)
    p.fresh_runner()
    plan = p.plan(fail_under=50.0)
    edited = bake(plan, p.runner)
    assert hits(edited)["build"] == {n: n == 2 for n in range(2, 13)}
    with pytest.raises(CacheGateFailed) as info:
        check_gate(edited, plan)
    # final's COPY of /s12 is a hit: the file's content did not change.
    assert "17% of all steps were cache hits, under 50%. Stages that missed: build 1/11." in info.value.message


def test_a_failure_in_step_5_of_12_names_the_step_and_buildkit_s_words(adhoc) -> None:
    p = adhoc(twelve(uuid.uuid4().hex, failing=5), mode="local")
    result = p.bake_fails()
    err = result.error
    assert isinstance(err, BuildFailed)
    first = err.message.splitlines()[0]
    assert first == "stage 'build', step 5 (RUN echo five-out && echo five-err >&2 && exit 3) failed (builder exit 1):"
    assert "exit code: 3" in err.message
    assert "| five-out" in err.message and "| five-err" in err.message
    failed, final = result.stages
    assert failed.stage == "build" and failed.status == "failed" and final.status == "skipped"
    assert [(s.number, s.line) for s in failed.steps if s.error] == [(5, 5)]


def test_an_unnamed_stage_is_reported_inside_the_build_that_uses_it(adhoc) -> None:
    tag = uuid.uuid4().hex
    p = adhoc(
        f"FROM {{BASE}} AS a\nRUN echo {tag} a > /a\n"
        f"FROM a\nRUN echo {tag} u > /u\n"  # stage 1: unnamed, used only by b
        f"FROM {{BASE}} AS z\nRUN echo {tag} z > /z\n"  # next in file order, but unrelated
        f"FROM {{BASE}} AS b\nCOPY --from=1 /u /u\nCOPY --from=z /z /z\n",
        mode="local",
    )
    plan = p.plan()
    assert [(b.stage, b.folded) for b in plan.builds] == [("a", ()), ("z", ()), ("b", ("stage-1",))]
    result = p.bake()
    rows = {s.stage: s for s in result.stages}
    assert rows["stage-1"].built_in == "b"
    assert [(s.number, s.line, s.cached) for s in rows["stage-1"].steps] == [(1, 4, False)]
    assert result.steps == 5


def test_each_platform_builds_the_stages_it_needs(adhoc) -> None:
    tag = uuid.uuid4().hex
    p = adhoc(
        "FROM scratch AS base-amd64\nCOPY amd.txt /arch\n"
        "FROM scratch AS base-arm64\nCOPY arm.txt /arch\n"
        f"FROM base-${{TARGETARCH}} AS final\nCOPY final.txt /final-{tag}\n",
        files={"amd.txt": f"amd {tag}\n", "arm.txt": f"arm {tag}\n", "final.txt": "final\n"},
        mode="local",
    )
    platforms = '[project]\nplatforms = ["linux/amd64", "linux/arm64"]\n'
    toml = (p.root / "stagecache.toml").read_text().replace("[project]\n", platforms)
    (p.root / "stagecache.toml").write_text(toml)
    plan = p.plan()
    assert [(b.stage, b.platforms) for b in plan.builds] == [
        ("base-amd64", ("linux/amd64",)),
        ("base-arm64", ("linux/arm64",)),
        ("final", ("linux/amd64", "linux/arm64")),
    ]
    result = p.bake()
    got = {(s.stage, st.platform, st.number) for s in result.stages for st in s.steps}
    assert got == {
        ("base-amd64", "linux/amd64", 1),
        ("base-arm64", "linux/arm64", 1),
        ("final", "linux/amd64", 1),
        ("final", "linux/arm64", 1),
    }
    assert result.cached == 0
    again = p.bake()
    assert again.steps == 4 and again.cached == 4


def _frontend_file() -> str:
    # With the current frontend, 'ARG TARGETARCH' keeps the automatic value: final is FROM stageamd64.
    # This engine's built-in frontend (BuildKit 0.13) sets it to "": final is FROM the stage 'stage'.
    tag = uuid.uuid4().hex
    return (
        "ARG TARGETARCH\n"
        f"FROM {{BASE}} AS stageamd64\nRUN echo {tag} amd64 > /which\n"
        f"FROM {{BASE}} AS stage\nRUN echo {tag} erased > /which\n"
        f"FROM stage${{TARGETARCH}} AS final\nRUN cat /which > /final\n"
    )


def test_bake_follows_the_engine_s_frontend_and_says_so(adhoc) -> None:
    p = adhoc(_frontend_file(), mode="local")
    # plan asks no engine: the current stable frontend is assumed.
    out = subprocess.run([STAGECACHE, "plan", "--json", "-C", str(p.root)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import json

    planned = json.loads(out.stdout)
    assert planned["frontend"]["source"] == "assumed"
    assert [b["stage"] for b in planned["builds"]] == ["stageamd64", "final"]
    # bake asks the engine, whose built-in frontend is older than 1.11, and builds what it builds.
    done = subprocess.run(
        [STAGECACHE, "bake", "-C", str(p.root), "--report", str(p.root / "r.json")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((p.root / "r.json").read_text())
    assert report["frontend"] == {
        "description": "the engine's built-in Dockerfile frontend, older than 1.11",
        "source": "engine",
        "rules": "<1.11",
    }
    assert [s["stage"] for s in report["stages"]] == ["stage", "final"]
    assert "FROM uses TARGETARCH, which the engine's built-in Dockerfile frontend, older than 1.11 sets to an" in (
        done.stderr
    )
    # And BuildKit did build 'stage', not 'stageamd64': its step ran there, under that name.
    assert report["steps_total"] == 2 and report["stages"][0]["steps"][0]["line"] == 5


def test_an_onbuild_copy_this_engine_refuses_is_exit_2_before_any_build(adhoc) -> None:
    tag = uuid.uuid4().hex
    p = adhoc(
        f"FROM {{BASE}} AS src\nRUN echo {tag} > /s\n"
        "FROM {BASE} AS base\nONBUILD COPY --from=src /s /s\n"
        "FROM base AS mid\nRUN cat /s\n",
        mode="local",
    )
    # The plan (current frontend) is fine: the trigger makes mid depend on src.
    assert [b.stage for b in p.plan(target="mid").builds] == ["src", "base", "mid"]
    done = subprocess.run([STAGECACHE, "bake", "-C", str(p.root)], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"Error: {p.root / 'Dockerfile'}:4: this ONBUILD trigger copies from stage 'src'")
    assert not (p.root / ".stagecache").exists() or not any((p.root / ".stagecache").iterdir())
