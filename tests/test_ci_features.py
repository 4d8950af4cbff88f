"""CI features without an engine: branch detection and branch-scoped refs with a
fallback, read-only plans, the cache-hit gate, the Markdown job summary."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stagecache import ci
from stagecache import config as cfg
from stagecache.bake import check_gate, with_gate
from stagecache.cli import app
from stagecache.errors import CacheGateFailed, UsageError
from stagecache.plan import make_plan
from stagecache.report import BakeResult, StageResult, StepResult, summary, to_json, to_markdown

DOCKERFILE = "FROM alpine AS compile\nRUN make\nFROM alpine AS runtime\nCOPY --from=compile /a /a\n"
BRANCHED = (
    '[project]\nimage = "reg.example.com/app"\n[cache]\nmode = "registry"\nref = "{image}:cache-{branch}-{stage}"\n'
)


def plan_for(tmp_path: Path, toml: str, env: dict[str, str] | None = None, **overrides):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "stagecache.toml").write_text(toml)
    config = cfg.load(tmp_path / "stagecache.toml", overrides=cfg.Overrides(**overrides), env=env or {})
    return make_plan(config)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GITHUB_HEAD_REF": "feature/x", "GITHUB_REF_NAME": "12/merge"}, ("feature/x", "GITHUB_HEAD_REF")),
        ({"GITHUB_REF_TYPE": "branch", "GITHUB_REF_NAME": "main"}, ("main", "GITHUB_REF_NAME")),
        ({"GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v1.0"}, (None, "no CI branch variable and no git branch")),
        ({"CI_COMMIT_BRANCH": "dev"}, ("dev", "CI_COMMIT_BRANCH")),
        ({"GIT_BRANCH": "origin/release"}, ("release", "GIT_BRANCH")),
    ],
)
def test_detect_branch_from_ci_variables(env: dict[str, str], expected: tuple) -> None:
    assert ci.detect_branch(env) == expected


def test_a_feature_branch_imports_its_own_then_mains_caches_and_exports_only_its_own(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, BRANCHED, env={"GITHUB_HEAD_REF": "Feature/Login"})
    assert (plan.branch, plan.fallback_branch) == ("Feature/Login", "main")
    runtime = plan.builds[1]
    assert [str(s) for s in runtime.cache.cache_from] == [
        "type=registry,ref=reg.example.com/app:cache-Feature-Login-1ce27709-runtime",
        "type=registry,ref=reg.example.com/app:cache-Feature-Login-1ce27709-compile",
        "type=registry,ref=reg.example.com/app:cache-main-runtime",
        "type=registry,ref=reg.example.com/app:cache-main-compile",
    ]
    assert [str(s) for s in runtime.cache.cache_to] == [
        "type=registry,ref=reg.example.com/app:cache-Feature-Login-1ce27709-runtime,mode=max,ignore-error=true"
    ]


def test_on_the_fallback_branch_nothing_is_imported_twice(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, BRANCHED, branch="main")
    assert plan.fallback_branch is None
    assert [str(s) for s in plan.builds[0].cache.cache_from] == [
        "type=registry,ref=reg.example.com/app:cache-main-compile"
    ]


def test_with_branch_refs_stage_images_are_branch_scoped_and_release_tags_stay_on_main(tmp_path: Path) -> None:
    toml = BRANCHED.replace("[cache]", 'tags = ["reg.example.com/app:latest"]\n[cache]') + (
        '[stages.compile]\ntags = ["reg.example.com/app:toolchain-1"]\n'
    )
    feature = plan_for(tmp_path, toml, branch="feature/x")
    assert [b.tags for b in feature.builds] == [
        ("reg.example.com/app:feature-x-217d2bf5-compile",),
        ("reg.example.com/app:feature-x-217d2bf5-runtime",),
    ]
    assert feature.warnings == (
        "branch 'feature/x' is not the fallback branch 'main': the extra tags of [project].tags and "
        '[stages.*].tags are left out (set [project].tags_on = "every-branch" to apply them on every branch).',
    )
    main = plan_for(tmp_path, toml, branch="main")
    assert [b.tags for b in main.builds] == [
        ("reg.example.com/app:main-compile", "reg.example.com/app:toolchain-1"),
        ("reg.example.com/app:main-runtime", "reg.example.com/app:latest"),
    ]
    assert main.warnings == ()
    every = plan_for(tmp_path, toml.replace("[cache]", 'tags_on = "every-branch"\n[cache]'), branch="feature/x")
    assert every.builds[1].tags[1:] == ("reg.example.com/app:latest",) and every.warnings == ()
    # A tag template of the user's own is kept as it is.
    own = plan_for(tmp_path, toml.replace("[cache]", '[cache]\ntag = "{image}:{stage}"'), branch="main")
    assert own.builds[0].tags[0] == "reg.example.com/app:compile"


def test_without_branch_templates_every_tag_is_applied_as_configured(tmp_path: Path) -> None:
    toml = '[project]\nimage = "reg.example.com/app"\ntags = ["reg.example.com/app:latest"]\n'
    plan = plan_for(tmp_path, toml, branch="feature/x")
    assert [b.tags for b in plan.builds] == [
        ("reg.example.com/app:compile",),
        ("reg.example.com/app:runtime", "reg.example.com/app:latest"),
    ]


def test_branch_flag_wins_and_is_validated(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, BRANCHED, env={"CI_COMMIT_BRANCH": "dev"}, branch="hotfix")
    assert plan.branch == "hotfix" and plan.config.branch_source == "--branch"
    with pytest.raises(cfg.ConfigError, match="option --branch: '--evil' is not allowed"):
        plan_for(tmp_path, BRANCHED, branch="--evil")


def test_classic_with_branches_pulls_both_branches_images(tmp_path: Path) -> None:
    toml = '[project]\nimage = "reg.example.com/app"\n[cache]\nmode = "classic"\ntag = "{image}:{branch}-{stage}"\n'
    plan = plan_for(tmp_path, toml, branch="pr-7")
    assert [c.argv[-1] for c in plan.pulls] == [
        "reg.example.com/app:pr-7-compile",
        "reg.example.com/app:main-compile",
        "reg.example.com/app:pr-7-runtime",
        "reg.example.com/app:main-runtime",
    ]
    assert plan.builds[0].push_commands[0].argv[-1] == "reg.example.com/app:pr-7-compile"


@pytest.mark.parametrize("mode", ["registry", "inline", "local", "classic"])
def test_read_only_imports_but_exports_and_pushes_nothing(tmp_path: Path, mode: str) -> None:
    toml = f'[project]\nimage = "reg.example.com/app"\n[cache]\nmode = "{mode}"\nread_only = true\n'
    plan = plan_for(tmp_path, toml)
    for build in plan.builds:
        assert build.cache.cache_to == () and not build.push and build.push_commands == ()
        assert build.local_swap is None
        assert "--push" not in build.build.argv and "--cache-to" not in build.build.argv
        assert build.cache.cache_from or build.cache.legacy_from
    flag = plan_for(tmp_path, toml.replace("read_only = true\n", ""), read_only=True)
    assert all(b.cache.cache_to == () for b in flag.builds)


def _result(hits: dict[str, tuple[int, int]]) -> BakeResult:
    stages = []
    for name, (cached, total) in hits.items():
        steps = tuple(StepResult(name, i + 1, f"RUN {i}", None, i < cached, 0.1) for i in range(total))
        stages.append(
            StageResult(
                name,
                "built",
                1.0,
                steps,
                pushed=(f"reg/app:{name}",),
                cache_from=(f"type=registry,ref=reg/app:cache-{name}", "type=registry,ref=reg/app:cache-main"),
                missing_caches=("reg/app:cache-main",),
            )
        )
    return BakeResult("success", "runtime", "registry", "max", tuple(stages), 2.0)


def test_gate_fails_under_the_global_threshold_naming_the_stages_that_missed(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, BRANCHED + "fail_under = 80\n[stages.runtime]\nfail_under = 100\n", branch="main")
    result = _result({"compile": (4, 4), "runtime": (1, 2)})
    with pytest.raises(CacheGateFailed) as info:
        check_gate(result, plan)
    assert info.value.exit_code == 4
    assert info.value.message == (
        "cache-hit gate failed: stage 'runtime' hit 50%, under its 100%. Stages that missed: runtime 1/2. "
        "The build itself succeeded; look for cache import warnings above, a changed early input, "
        "or a cache ref that was not exported by the last run."
    )
    check_gate(_result({"compile": (4, 4), "runtime": (2, 2)}), plan)  # all hits: passes
    # The report records the verdict (exit 4 alone would not tell a tool reading the report).
    assert to_json(with_gate(result, plan))["gate"] == {
        "passed": False,
        "problems": ["stage 'runtime' hit 50%, under its 100%"],
    }
    assert to_json(with_gate(_result({"compile": (4, 4), "runtime": (2, 2)}), plan))["gate"] == {
        "passed": True,
        "problems": [],
    }
    ungated = plan_for(tmp_path, BRANCHED, branch="main")
    assert to_json(with_gate(result, ungated))["gate"] is None


def test_gate_global_threshold(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, BRANCHED, branch="main", fail_under=90.0)
    with pytest.raises(CacheGateFailed, match=r"^cache-hit gate failed: 67% of all steps were cache hits, under 90%"):
        check_gate(_result({"compile": (3, 4), "runtime": (1, 2)}), plan)


def test_fail_under_must_be_a_percentage(tmp_path: Path) -> None:
    with pytest.raises(cfg.ConfigError, match="key 'cache.fail_under': expected a percentage from 0 to 100"):
        plan_for(tmp_path, BRANCHED + "fail_under = 120\n")
    (tmp_path / "stagecache.toml").write_text(BRANCHED)
    result = CliRunner().invoke(app, ["bake", "-C", str(tmp_path), "--fail-under", "-5"])
    assert result.exit_code == 2
    assert (
        result.output
        == "Error: command line: option --fail-under: expected a percentage from 0 to 100, got a number -5.0.\n"
    )


def test_markdown_summary_and_cache_sources() -> None:
    result = _result({"compile": (4, 4), "runtime": (1, 2)})
    md = to_markdown(result)
    assert md.startswith("### stagecache bake succeeded: 83% of steps from cache\n")
    assert (
        "| compile | 4 | 4 | 100% | 1.0 | `reg/app:compile` | `reg/app:cache-compile` (imported), "
        "`reg/app:cache-main` (missing) |"
    ) in md
    assert "not which one served each step" in md
    data = to_json(result)
    assert data["stages"][0]["cache_sources"] == [
        {"cache": "type=registry,ref=reg/app:cache-compile", "state": "imported"},
        {"cache": "type=registry,ref=reg/app:cache-main", "state": "missing"},
    ]


# What BuildKit 0.13 says when the registry (127.0.0.1:9, nothing listening) refuses every connection:
# recorded from `stagecache bake --no-push` of examples/diamond in registry mode.
_REFUSED = (
    '{ref}: failed to configure registry cache importer: failed to do request: Head "https://127.0.0.1:9/v2/app/'
    'manifests/{tag}": dial tcp 127.0.0.1:9: connect: connection refused'
)
_EXPORT_REFUSED = (
    'exporting cache to registry: error writing layer blob: failed to do request: Head "https://127.0.0.1:9/v2/app/'
    'blobs/sha256:{digest}": dial tcp 127.0.0.1:9: connect: connection refused'
)


def test_the_same_failure_of_many_caches_is_one_warning_with_a_count() -> None:
    def failed(stage: str, imports: tuple[str, ...]) -> StageResult:
        return StageResult(
            stage,
            "built",
            import_errors=tuple(_REFUSED.format(ref=f"127.0.0.1:9/app:cache-{s}", tag=f"cache-{s}") for s in imports),
            export_errors=(_EXPORT_REFUSED.format(digest=stage.encode().hex().ljust(64, "0")),),
        )

    stages = (failed("base", ("base",)), failed("app", ("app", "base")), failed("runtime", ("runtime", "app")))
    result = BakeResult("success", "runtime", "registry", "max", stages, 1.0)
    lines = summary(result).splitlines()
    assert lines[-2:] == [
        "warning: cache import failed 5 times (stages base, app, runtime); each like this one: "
        + _REFUSED.format(ref="127.0.0.1:9/app:cache-base", tag="cache-base"),
        "warning: cache export failed 3 times (stages base, app, runtime); the next run will not have these "
        "caches; each like this one: " + _EXPORT_REFUSED.format(digest="62617365".ljust(64, "0")),
    ]
    # One failure, or failures that differ, each keep their own line naming the stage.
    one = BakeResult("success", "base", "registry", "max", stages[:1], 1.0)
    assert summary(one).splitlines()[-2:] == [
        "warning: base: cache import failed: " + _REFUSED.format(ref="127.0.0.1:9/app:cache-base", tag="cache-base"),
        "warning: base: cache export failed, the next run will not have this cache: "
        + _EXPORT_REFUSED.format(digest="62617365".ljust(64, "0")),
    ]
    denied = replace(stages[1], import_errors=("127.0.0.1:9/app:cache-app: denied: access forbidden",))
    mixed = BakeResult("success", "app", "registry", "max", (stages[0], denied), 1.0)
    assert [
        ln.split(": ")[1] for ln in summary(mixed).splitlines() if ln.startswith("warning: base: cache import")
    ] == ["base"]
    assert "warning: app: cache import failed: 127.0.0.1:9/app:cache-app: denied: access forbidden" in summary(mixed)


def test_every_branch_gets_a_valid_distinct_tag(tmp_path: Path) -> None:
    """A tag holds at most 128 characters of [A-Za-z0-9_.-]: a branch name that does not fit
    as it is keeps a readable prefix and gets 8 hex digits of its SHA-256."""
    long_a = "feature/" + "a" * 115
    long_b = "feature/" + "a" * 114 + "b"
    refs = {}
    for branch in ("main", "feature/x", "feature-x", long_a, long_b, "release/1.2", "x..y", "ünï"):
        plan = plan_for(tmp_path, BRANCHED, branch=branch)
        ref = str(plan.builds[0].cache.cache_to[0]).split(",")[1].removeprefix("ref=")
        tag = ref.rsplit(":", 1)[1]
        assert len(tag) <= 128 and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", tag), (branch, tag)
        refs[branch] = ref
    assert len(set(refs.values())) == len(refs)
    assert refs["main"] == "reg.example.com/app:cache-main-compile"
    assert refs["feature/x"] == "reg.example.com/app:cache-feature-x-217d2bf5-compile"
    assert refs["feature-x"] == "reg.example.com/app:cache-feature-x-compile"
    assert len(refs[long_a].rsplit(":", 1)[1]) == 128


def test_settings_for_a_stage_the_dockerfile_does_not_have_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        plan_for(tmp_path, BRANCHED + "[stages.runtme]\nfail_under = 100\n", branch="main")
    assert str(info.value) == (
        f"{tmp_path / 'stagecache.toml'}: table [stages.runtme]: {tmp_path / 'Dockerfile'} has no stage 'runtme' "
        "(did you mean runtime?). Stages: compile, runtime. Rename or remove the table."
    )
    assert info.value.exit_code == 2


def test_hits_with_every_cache_missing_are_said_to_come_from_the_engine() -> None:
    def stage(name: str, missing: bool, cached: bool) -> StageResult:
        ref = f"type=registry,ref=127.0.0.1:9/app:cache-{name}"
        return StageResult(
            name,
            "built",
            1.0,
            (StepResult(name, 2, "RUN true", 3, cached, 0.0),),
            cache_from=(ref,),
            missing_caches=(f"127.0.0.1:9/app:cache-{name}: not found",) if missing else (),
        )

    engine_only = BakeResult(
        "success", "app", "registry", "max", (stage("base", True, True), stage("app", True, True)), 1.0
    )
    assert summary(engine_only).splitlines()[-1] == (
        "note: base, app: 2 cached steps with none of their caches found or imported: they came from this "
        "engine's own build cache (earlier builds on this machine, or a step another stage of this bake ran "
        "first), which a fresh CI runner starts without."
    )
    # An imported cache, or a stage that missed, gets no note.
    imported = BakeResult(
        "success", "app", "registry", "max", (stage("base", False, True), stage("app", True, False)), 1.0
    )
    assert "note:" not in summary(imported)


def test_a_skipped_stage_shows_no_time_in_the_summary() -> None:
    failed = StageResult("base", "failed", 2.5, (StepResult("base", 2, "RUN false", 3, False, 2.5, error="exit 1"),))
    skipped = StageResult("app", "skipped", 0.0)
    rows = summary(BakeResult("failed", "app", "local", "max", (failed, skipped), 2.6)).splitlines()
    assert rows[2].split() == ["base", "1", "0", "0%", "2.5", "failed"]
    assert rows[3].split() == ["app", "0", "0", "-", "-", "skipped"]


def test_a_cache_is_not_said_missing_for_a_message_about_a_longer_name() -> None:
    row = StageResult(
        "app",
        "built",
        1.0,
        (StepResult("app", 2, "RUN true", 3, True, 0.0),),
        cache_from=("type=local,src=/c/app", "type=local,src=/c/app-debug"),
        missing_caches=("/c/app-debug: not found",),
    )
    assert row.cache_sources() == (("type=local,src=/c/app", "imported"), ("type=local,src=/c/app-debug", "missing"))
    assert "note:" not in summary(BakeResult("success", "app", "local", "max", (row,), 1.0))


def test_one_hit_from_the_engine_is_said_in_the_singular() -> None:
    row = StageResult(
        "app",
        "built",
        1.0,
        (StepResult("app", 2, "RUN true", 3, True, 0.0), StepResult("app", 3, "RUN false", 4, False, 0.1)),
        cache_from=("type=local,src=/c/app",),
        missing_caches=("/c/app: not found",),
    )
    last = summary(BakeResult("success", "app", "local", "max", (row,), 1.0)).splitlines()[-1]
    assert last.startswith("note: app: 1 cached step with none of its caches found or imported: it came from ")


def test_a_skipped_stage_with_steps_from_the_first_build_shows_their_time() -> None:
    row = StageResult("app", "skipped", 0.5, (StepResult("app", 2, "RUN true", 3, False, 0.5),))
    assert summary(BakeResult("failed", "app", "local", "max", (row,), 1.0)).splitlines()[2].split() == [
        "app",
        "1",
        "0",
        "0%",
        "0.5",
        "skipped",
    ]
