"""The fast path, with the scripted runner and streams recorded on the engine: one build of the
target first; only the stages that missed, lost their own cache or have a pushed image get
a build of their own; the report keeps the first build's hits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stagecache import fastpath, report
from stagecache.bake import run_bake
from stagecache.errors import BuildFailed
from stagecache.plan import BuildPlan
from stagecache.report import source_of
from tests.fake_runner import RecordingDisplay, Script, ScriptedRunner, plan_for, recording

STAGES = ["base", "a", "b", "c", "d", "e", "f", "final"]
WARM = recording("many-stages.warm.rawjson")
COLD = recording("many-stages.cold.rawjson")
EDIT_E = recording("many-stages.edit-e.rawjson")
LOCAL = '[project]\nimage = "registry.example/app"\npush = false\n[cache]\nmode = "local"\n'
REGISTRY = '[project]\nimage = "registry.example/app"\npush = false\n[cache]\nmode = "registry"\n'


def many_stages(tmp_path: Path, toml: str = LOCAL) -> BuildPlan:
    (tmp_path / ".dockerignore").write_text(".stagecache\n")
    return plan_for(tmp_path, "many-stages.Dockerfile", toml)


def own_builds(probe: str, **special: Script) -> dict[str, Script]:
    """The probe (the build of ``final``) replays ``probe``; each stage's own build, the warm
    recording (BuildKit has every step from the probe by then)."""
    scripts = {s: special.get(s, Script(WARM)) for s in STAGES}
    scripts["final"] = Script(probe)
    return scripts


def hits(result) -> dict[str, tuple[int, int]]:
    return {s.stage: (s.cached, len(s.steps)) for s in result.stages}


def test_the_plan_has_a_probe_that_imports_every_stage_and_exports_nothing(tmp_path: Path) -> None:
    plan = many_stages(tmp_path)
    probe = plan.probe
    assert probe is not None and probe.target == "final" and probe.cache.cache_to == ()
    imported = [Path(source_of(str(s))).name for s in probe.cache.cache_from]
    assert sorted(imported) == sorted(STAGES)  # every stage's local cache folder
    assert "--cache-to" not in probe.build.argv and "--push" not in probe.build.argv
    assert set(probe.folded) == set(STAGES) - {"final"}
    for toml in (LOCAL + "[build]\nfast_path = false\n", LOCAL + '[build]\nscope = "final"\n'):
        assert plan_for(tmp_path, "many-stages.Dockerfile", toml).probe is None
    classic = '[project]\nimage = "registry.example/app"\n[cache]\nmode = "classic"\n'
    assert plan_for(tmp_path, "many-stages.Dockerfile", classic).probe is None  # the legacy builder


def test_nothing_changed_one_build_and_nothing_exported(tmp_path: Path) -> None:
    runner = ScriptedRunner(own_builds(WARM))
    result = run_bake(many_stages(tmp_path), runner)
    assert result.error is None
    assert [c.key for c in runner.calls] == ["final"]
    assert hits(result) == {
        "base": (2, 2), "a": (2, 2), "b": (3, 3), "c": (2, 2), "d": (3, 3), "e": (2, 2), "f": (2, 2), "final": (2, 2),
    }  # fmt: skip
    assert all(s.cache_to == () and s.pushed == () and s.status == "built" for s in result.stages)
    # Only the target's image was loaded.
    assert [s.stage for s in result.stages if s.tags] == ["final"]


def test_one_stage_missed_only_it_gets_its_own_build(tmp_path: Path) -> None:
    runner = ScriptedRunner(own_builds(EDIT_E))
    display = RecordingDisplay()
    result = run_bake(many_stages(tmp_path), runner, display)
    assert result.error is None
    assert [c.key for c in runner.calls] == ["final", "e"]
    assert hits(result)["e"] == (1, 2)  # the probe's miss stays in the report (the own build hit all)
    e = next(s for s in result.stages if s.stage == "e")
    cache = tmp_path.resolve() / ".stagecache" / "cache"
    assert e.cache_to == (f"type=local,dest={cache}/.e.incoming,mode=max,ignore-error=true",)
    assert [s.stage for s in result.stages if s.cache_to] == ["e"]
    assert [h[0] for h in display.started] == ["final", "e"]
    assert display.started[1][3] == "cache local; its own build, to export what the first one built"
    assert report.summary(result).splitlines()[2].split()[:4] == ["base", "2", "2", "100%"]


def test_a_cold_runner_builds_each_stage_after_the_probe(tmp_path: Path) -> None:
    runner = ScriptedRunner(own_builds(COLD))
    result = run_bake(many_stages(tmp_path), runner)
    assert result.error is None and result.cached == 0
    assert runner.calls[0].key == "final" and sorted(c.key for c in runner.calls[1:]) == sorted(STAGES)
    assert all(s.cache_to for s in result.stages)


def test_a_stage_whose_own_cache_is_missing_is_exported_though_every_step_hit(tmp_path: Path) -> None:
    plan = many_stages(tmp_path)
    probed = fastpath.probe(_execution(plan, ScriptedRunner(own_builds(WARM))))
    assert fastpath.needing_own_build(plan, probed) == []
    # BuildKit said c's own cache could not be found (as in rawjson-runtime-import-missing.txt,
    # where progress reads the ref from the "failed to configure registry cache importer" line):
    # its steps hit from the other stages' caches, but the next run needs c's own.
    c_cache = source_of(str(next(b for b in plan.builds if b.stage == "c").cache.cache_from[0]))
    lost = {**probed, "c": replace(probed["c"], missing_caches=(c_cache,))}
    assert [b.stage for b in fastpath.needing_own_build(plan, lost)] == ["c"]


def test_a_pushed_image_is_pushed_every_time(tmp_path: Path) -> None:
    # Its tag must point at this build's image: that the registry has a tag says nothing of what
    # it holds (a --no-push bake, a push that failed after the cache was written).
    plan = many_stages(tmp_path, LOCAL.replace("push = false", "push = true"))
    runner = ScriptedRunner(own_builds(WARM))
    result = run_bake(plan, runner)
    assert result.error is None and runner.calls[0].key == "final"
    builds = [c.key for c in runner.calls[1:] if not c.key.startswith("push ")]
    assert sorted(builds) == sorted(STAGES)
    assert all(s.pushed for s in result.stages)


def test_the_fast_path_runs_only_where_hits_say_which_caches_are_current(tmp_path: Path) -> None:
    plan = many_stages(tmp_path)
    # An engine that built the project before: its own cache may serve steps that the stages'
    # caches do not hold, so every stage gets its own build, as without the fast path.
    warm = ScriptedRunner(own_builds(WARM), local_images=("registry.example/app:final",))
    assert not fastpath.applies(plan, warm)
    assert sorted(c.key for c in _bake(plan, warm).calls) == sorted(STAGES)
    # A branch that also imports the fallback branch's caches: same.
    branched = LOCAL.replace("[cache]", '[cache]\nref = "{image}:cache-{branch}-{stage}"')
    on_main = plan_for(tmp_path, "many-stages.Dockerfile", branched)
    assert on_main.fallback_branch is None and fastpath.applies(on_main, ScriptedRunner(own_builds(WARM)))
    from stagecache import config as cfg
    from stagecache.plan import make_plan

    on_x = make_plan(cfg.load(tmp_path / "stagecache.toml", overrides=cfg.Overrides(branch="x"), env={}))
    assert on_x.fallback_branch == "main" and not fastpath.applies(on_x, ScriptedRunner(own_builds(WARM)))
    # A read-only bake exports nothing: the first build is the whole bake wherever it runs.
    read_only = many_stages(tmp_path, REGISTRY + "read_only = true\n")
    assert fastpath.applies(read_only, warm)
    # Registry caches have the fast path; inline (its cache is in the pushed images) does not.
    fresh = ScriptedRunner(own_builds(WARM))
    assert fastpath.applies(many_stages(tmp_path, REGISTRY), fresh)
    assert not fastpath.applies(many_stages(tmp_path, REGISTRY.replace('"registry"', '"inline"')), fresh)
    # A named builder or several platforms load no image into the engine, which then cannot
    # say whether the builder built the project before: per-stage builds (not when read-only).
    named = many_stages(tmp_path, REGISTRY.replace("push = false", 'push = false\nbuilder = "ci"'))
    assert not fastpath.applies(named, fresh)
    platforms = 'push = false\nplatforms = ["linux/amd64", "linux/arm64"]'
    assert not fastpath.applies(many_stages(tmp_path, REGISTRY.replace("push = false", platforms)), fresh)
    assert fastpath.applies(
        many_stages(tmp_path, REGISTRY.replace("push = false", platforms) + "read_only = true\n"), fresh
    )


def _bake(plan: BuildPlan, runner: ScriptedRunner) -> ScriptedRunner:
    assert run_bake(plan, runner).error is None
    return runner


def test_read_only_is_the_probe_alone(tmp_path: Path) -> None:
    runner = ScriptedRunner(own_builds(COLD))
    result = run_bake(many_stages(tmp_path, REGISTRY + "read_only = true\n"), runner)
    assert result.error is None and [c.key for c in runner.calls] == ["final"]


def test_a_failed_probe_is_the_bake_s_failure_and_only_what_it_built_is_exported(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(".stagecache\n")
    plan = plan_for(tmp_path, "many-stages-fail.Dockerfile", LOCAL)
    assert plan.probe is not None and plan.probe.stage == "final"
    warm = {s: Script(recording("many-stages-fail.cold.rawjson")) for s in ("base", "a", "b")}
    runner = ScriptedRunner({"final": Script(recording("many-stages-fail.cold.rawjson"), exit_code=1), **warm})
    result = run_bake(plan, runner)
    # The stages built before d broke keep their new caches (as with per-stage builds); d and
    # final get nothing: the bake's error is the first build's.
    assert isinstance(result.error, BuildFailed) and runner.calls[0].key == "final"
    assert sorted(c.key for c in runner.calls[1:]) == ["a", "b", "base"]
    assert str(result.error).startswith("stage 'd', step 3 (RUN echo \"many-stages-fail d fails\" && exit 3) failed")
    assert {s.stage: s.status for s in result.stages} == {
        "base": "built", "a": "built", "b": "built", "d": "failed", "final": "skipped",
    }  # fmt: skip


def _execution(plan: BuildPlan, runner: ScriptedRunner):
    import time

    from stagecache.execution import Execution

    return Execution(plan, runner, RecordingDisplay(), time.monotonic())
