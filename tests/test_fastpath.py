"""The fast path, with the scripted runner and streams recorded on the engine: one build of the
target first; only the stages whose cache is not known to be current, or whose pushed image's
tags do not point at the image their record names, get a build of their own; the report keeps
the first build's hits."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from stagecache import fastpath, inputstore, report, why
from stagecache.bake import run_bake
from stagecache.errors import BuildFailed
from stagecache.plan import BuildPlan
from stagecache.report import source_of
from tests.fake_runner import RAW, RecordingDisplay, Script, ScriptedRunner, plan_for, recording

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
    (tmp_path / "hello.txt").write_text("hello\n")
    plan = many_stages(tmp_path)
    _record_every_stage(plan)
    runner = ScriptedRunner(own_builds(WARM))
    result = run_bake(plan, runner)
    assert result.error is None
    assert [c.key for c in runner.calls] == ["final"]
    assert hits(result) == {
        "base": (2, 2), "a": (2, 2), "b": (3, 3), "c": (2, 2), "d": (3, 3), "e": (2, 2), "f": (2, 2), "final": (2, 2),
    }  # fmt: skip
    assert all(s.cache_to == () and s.pushed == () and s.status == "built" for s in result.stages)
    # Only the target's image was loaded.
    assert [s.stage for s in result.stages if s.tags] == ["final"]


def test_one_stage_missed_only_it_gets_its_own_build(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello\n")
    plan = many_stages(tmp_path)
    _record_every_stage(plan)
    runner = ScriptedRunner(own_builds(EDIT_E))
    display = RecordingDisplay()
    result = run_bake(plan, runner, display)
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
    # On a new runner without records, hits prove a cache current only for a stage that no other
    # stage uses (final): the others' steps may have come from the caches of stages built on them.
    assert [b.stage for b in fastpath.needing_own_build(plan, probed, fresh=True)] == STAGES[:-1]
    # BuildKit said final's own cache could not be found (as in rawjson-runtime-import-missing.txt,
    # where progress reads the ref from the "failed to configure registry cache importer" line):
    # its steps hit from the other stages' caches, but the next run needs its own.
    own = source_of(str(next(b for b in plan.builds if b.stage == "final").cache.cache_from[0]))
    lost = {**probed, "final": replace(probed["final"], missing_caches=(own,))}
    assert [b.stage for b in fastpath.needing_own_build(plan, lost, fresh=True)] == STAGES
    # Hits prove nothing on an engine that may have served them itself.
    assert [b.stage for b in fastpath.needing_own_build(plan, probed, fresh=False)] == STAGES


def test_a_pushed_image_without_a_record_is_pushed(tmp_path: Path) -> None:
    # That the registry has a tag says nothing of what it holds (a --no-push bake, a push that
    # failed after the cache was written): without a record naming the image, it is pushed.
    plan = many_stages(tmp_path, LOCAL.replace("push = false", "push = true"))
    runner = ScriptedRunner(own_builds(WARM))
    result = run_bake(plan, runner)
    assert result.error is None and runner.calls[0].key == "final"
    builds = [c.key for c in runner.calls[1:] if not c.key.startswith("push ")]
    assert sorted(builds) == sorted(STAGES)
    assert all(s.pushed for s in result.stages)


def test_hits_alone_prove_a_cache_current_only_on_a_fresh_runner(tmp_path: Path) -> None:
    plan = many_stages(tmp_path)
    # An engine that built the project before: its own cache may serve steps that the stages'
    # caches do not hold. Without records beside the caches, every stage gets its own build.
    warm = ScriptedRunner(own_builds(WARM), local_images=("registry.example/app:final",))
    assert not fastpath.fresh_runner(plan, warm)
    calls = [c.key for c in _bake(plan, warm).calls]
    assert calls[0] == "final" and sorted(calls[1:]) == sorted(STAGES)
    # A branch that also imports the fallback branch's caches: same.
    branched = LOCAL.replace("[cache]", '[cache]\nref = "{image}:cache-{branch}-{stage}"')
    on_main = plan_for(tmp_path, "many-stages.Dockerfile", branched)
    assert on_main.fallback_branch is None and fastpath.fresh_runner(on_main, ScriptedRunner(own_builds(WARM)))
    from stagecache import config as cfg
    from stagecache.plan import make_plan

    on_x = make_plan(cfg.load(tmp_path / "stagecache.toml", overrides=cfg.Overrides(branch="x"), env={}))
    assert on_x.fallback_branch == "main" and not fastpath.fresh_runner(on_x, ScriptedRunner(own_builds(WARM)))


def test_the_plan_has_a_probe_only_where_one_build_can_show_every_stage(tmp_path: Path) -> None:
    assert many_stages(tmp_path, REGISTRY).probe is not None
    assert many_stages(tmp_path, REGISTRY + "read_only = true\n").probe is not None
    assert many_stages(tmp_path, REGISTRY.replace('"registry"', '"inline"')).probe is not None
    # A named builder or several platforms load no image into the engine, which then cannot
    # say whether the builder built the project before: per-stage builds (not when read-only:
    # the probe is then the whole bake). Nor the legacy builder (classic).
    assert plan_for(tmp_path, "many-stages.Dockerfile", REGISTRY.replace('"registry"', '"classic"')).probe is None
    assert many_stages(tmp_path, REGISTRY.replace("push = false", 'push = false\nbuilder = "ci"')).probe is None
    platforms = 'push = false\nplatforms = ["linux/amd64", "linux/arm64"]'
    assert many_stages(tmp_path, REGISTRY.replace("push = false", platforms)).probe is None
    assert many_stages(tmp_path, REGISTRY.replace("push = false", platforms) + "read_only = true\n").probe is not None


def _record_every_stage(plan: BuildPlan, image: str = "") -> None:
    """Store, beside each stage's (stand-in) local cache, the record a bake of the current
    inputs would have stored."""
    probed = fastpath.probe(_execution(plan, ScriptedRunner(own_builds(WARM))))
    for b in plan.builds:
        folder = Path(source_of(str(b.cache.cache_from[0])))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    record = why.Record.start(plan)
    for label, inputs in record.now(list(probed.values())).items():
        place = record.places[label]
        inputstore.write(place, replace(inputs, cache=inputstore.identity(place), image=image))


def test_on_a_warm_engine_records_prove_which_caches_are_current(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello\n")
    plan = many_stages(tmp_path)
    _record_every_stage(plan)
    warm = ScriptedRunner(own_builds(WARM), local_images=("registry.example/app:final",))
    assert [c.key for c in _bake(plan, warm).calls] == ["final"]  # every record is current
    # A file that e copies changed (BuildKit may still hit it from the engine's own cache): e
    # and the stages built on it, whose records name e's old fingerprint, export.
    probed = fastpath.probe(_execution(plan, ScriptedRunner(own_builds(WARM))))
    record = why.Record.start(plan)
    assert fastpath.needing_own_build(plan, probed, False, record) == []
    # A new digest of the base image (all steps may still hit, from the engine's own cache):
    # every stage built on it, however far down, exports.
    moved = {**probed, "base": replace(probed["base"], base=probed["base"].base + "0")}
    assert [b.stage for b in fastpath.needing_own_build(plan, moved, False, record)] == STAGES
    (tmp_path / "hello.txt").write_text("changed\n")
    warm = ScriptedRunner(own_builds(WARM), local_images=("registry.example/app:final",))
    assert [c.key for c in _bake(plan, warm).calls] == ["final", "e", "f", "final"]


def test_a_record_proves_nothing_when_the_stage_changed_in_a_way_it_does_not_list(tmp_path: Path) -> None:
    # A USER line is no step and sets no variable, but enters the cache keys of the RUN steps
    # after it: the record's stage key covers it, as it covers the bake's network.
    (tmp_path / "hello.txt").write_text("hello\n")
    plan = many_stages(tmp_path)
    _record_every_stage(plan)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("FROM c AS e\n", "FROM c AS e\nUSER 1000\n"))
    changed = _plan_here(tmp_path)
    warm = ScriptedRunner(own_builds(WARM), local_images=("registry.example/app:final",))
    assert [c.key for c in _bake(changed, warm).calls] == ["final", "e", "f", "final"]
    networked = _plan_here(tmp_path, network="host")
    warm = ScriptedRunner(own_builds(WARM), local_images=("registry.example/app:final",))
    calls = [c.key for c in _bake(networked, warm).calls]
    assert calls[0] == "final" and sorted(calls[1:]) == sorted(STAGES)


def _plan_here(tmp_path: Path, network: str | None = None, toml: str | None = None) -> BuildPlan:
    from stagecache import config as cfg
    from stagecache.plan import make_plan

    if toml is not None:
        (tmp_path / "stagecache.toml").write_text(toml)
    return make_plan(cfg.load(tmp_path / "stagecache.toml", overrides=cfg.Overrides(network=network), env={}))


def test_a_pushed_image_is_left_as_it_is_when_its_record_and_its_tags_agree(tmp_path: Path, monkeypatch) -> None:
    # (No registry here: what each tag points to is set below, not read.)
    monkeypatch.setattr(why.Record, "_image", lambda self, tag: "")
    (tmp_path / "hello.txt").write_text("hello\n")
    plan = many_stages(tmp_path, LOCAL.replace("push = false", "push = true"))
    _record_every_stage(plan, image="sha256:" + "1" * 64)
    runner = ScriptedRunner(own_builds(WARM))
    probed = fastpath.probe(_execution(plan, runner))
    record = why.Record.start(plan)
    assert record.images == {b.stage: ("",) for b in plan.builds}  # no tag could be read: pushed
    assert len(fastpath.needing_own_build(plan, probed, False, record)) == len(STAGES)
    record.images = {b.stage: ("sha256:" + "1" * 64,) for b in plan.builds}
    assert fastpath.needing_own_build(plan, probed, False, record) == []
    # A tag that moved since (another tool pushed it, a push without a record): pushed again,
    # its cache not exported.
    record.images["c"] = ("sha256:" + "2" * 64,)
    again = fastpath.needing_own_build(plan, probed, False, record)
    assert [(b.stage, b.cache.cache_to) for b in again] == [("c", ())]
    rows = fastpath.unchanged(plan, list(probed.values()), again)
    assert {r.stage: bool(r.unchanged) for r in rows} == dict.fromkeys(STAGES, True) | {"c": False}
    assert "registry.example/app:a (unchanged)" in report.summary(replace(run_bake(plan, runner), stages=tuple(rows)))


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


def test_own_builds_after_the_probe_wait_for_each_other_only_with_local_caches(tmp_path: Path) -> None:
    # BuildKit holds every result from the probe; a local cache build imports the folders of the
    # stages it uses, which their own builds replace, so only those keep the stage order.
    for toml, ordered in ((LOCAL, True), (REGISTRY, False)):
        plan = many_stages(tmp_path, toml)
        seen: list = []
        fastpath.export(
            _execution(plan, ScriptedRunner(own_builds(COLD))),
            list(plan.builds),
            lambda sub, into=seen: into.extend(sub.plan.builds),
        )
        assert [b.stage for b in seen] == STAGES
        assert any(b.upstream for b in seen) == ordered


def test_a_branch_copy_that_fails_leaves_the_stage_its_whole_build(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from stagecache import branchcopy
    from stagecache.errors import RegistryError

    plan = many_stages(tmp_path, REGISTRY.replace("push = false", "push = true"))
    c, d = (next(b for b in plan.builds if b.stage == s) for s in ("c", "d"))
    done: list[tuple[str, str, str]] = []

    class Client:
        def copy_manifest(self, repo: str, reference: str, tag: str) -> str:
            if tag.endswith("-c") or tag == "c":
                raise RegistryError("the registry refused the manifest: HTTP 403")
            done.append((repo, reference, tag))
            return "sha256:" + "0" * 64

    said: list[str] = []
    copies = [
        branchcopy.Copy(
            c, "registry.example/app:cache-main-c", "registry.example/app:cache-x-c", "sha256:c", "sha256:1"
        ),
        branchcopy.Copy(
            d, "registry.example/app:cache-main-d", "registry.example/app:cache-x-d", "sha256:d", "sha256:2"
        ),
    ]
    record = SimpleNamespace(client=lambda host: Client())
    builds, made = branchcopy.run(copies, [c.without_export()], record, said.append)  # type: ignore[arg-type]
    assert builds == [c] and set(made) == {"d"}  # c: its whole build (export and push) instead
    # The cache manifest its record describes, by digest (not whatever the tag holds now), and the image.
    assert done == [("app", "sha256:d", "cache-x-d"), ("app", "sha256:2", "d")]
    assert (
        said[0]
        == "note: c: the fallback branch's cache could not be copied (the registry refused the manifest: HTTP 403)."
    )
    copied = "note: d: its cache and image copied from the fallback branch's registry.example/app:cache-main-d"
    assert said[1] == copied + " (no build, no upload)."
    rows = branchcopy.mark([report.StageResult("c", "built"), report.StageResult("d", "built", unchanged=("x",))], made)
    assert [(r.copied_from, r.pushed, r.unchanged) for r in rows] == [
        ("", (), ()), ("registry.example/app:cache-main-d", d.tags, ()),
    ]  # fmt: skip


def test_a_change_to_the_target_alone_is_exported_by_the_first_build(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello\n")
    plan = many_stages(tmp_path)
    _record_every_stage(plan)
    first = fastpath.first_build(plan, why.Record.start(plan))  # nothing to export
    assert "--cache-to" not in first.build.argv
    # The caches of base, c and d (which other current stages are built FROM) are not imported:
    # those stages' caches hold their steps.
    imported = {Path(source_of(str(spec))).name for spec in first.cache.cache_from}
    assert imported == {"a", "b", "e", "f", "final"}
    assert first.build.argv.count("--cache-from") == 5 and plan.probe.build.argv.count("--cache-from") == 8
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("many-stages final 1", "many-stages final 2"))
    changed = _plan_here(tmp_path)
    assert changed.probe_export is not None and "--cache-to" in changed.probe_export.build.argv
    first = fastpath.first_build(changed, why.Record.start(changed))
    assert "--cache-to" in first.build.argv and first.stage == "final"
    runner = ScriptedRunner(own_builds(WARM), local_images=("registry.example/app:final",))
    result = run_bake(changed, runner)
    assert result.error is None and [c.key for c in runner.calls] == ["final"]  # no build of its own after it
    assert [s.stage for s in result.stages if s.cache_to] == ["final"]
    # A change upstream too: the first build exports nothing (the own builds follow it).
    (tmp_path / "hello.txt").write_text("changed\n")
    first = fastpath.first_build(changed, why.Record.start(changed))
    assert "--cache-to" not in first.build.argv
    # base's own cache is left out (a, b, c and d, built FROM it, are current); c's and d's are
    # imported (e and f, built FROM them, changed).
    assert {Path(source_of(str(spec))).name for spec in first.cache.cache_from} == {*STAGES} - {"base"}


def test_a_line_that_makes_no_step_still_decides_whether_an_image_is_pushed(tmp_path: Path, monkeypatch) -> None:
    # A LABEL made from a build arg, a new CMD: no step changes (every step hits, even on a new
    # runner), but the image does, so it is pushed again; its cache needs no export.
    image = "sha256:" + "1" * 64
    monkeypatch.setattr(why.Record, "_image", lambda self, tag: image)  # every tag points at it
    (tmp_path / "hello.txt").write_text("hello\n")
    dockerfile = (
        (RAW / "many-stages.Dockerfile")
        .read_text()
        .replace("FROM c AS e\n", "FROM c AS e\nARG VERSION=1\nLABEL version=$VERSION\n")
    )
    plan = many_stages(tmp_path, LOCAL.replace("push = false", "push = true"))
    (tmp_path / "Dockerfile").write_text(dockerfile)
    plan = _plan_here(tmp_path)
    _record_every_stage(plan, image=image)
    probed = fastpath.probe(_execution(plan, ScriptedRunner(own_builds(WARM))))
    assert fastpath.needing_own_build(plan, probed, True, why.Record.start(plan)) == []
    for changed in (
        dockerfile.replace("VERSION=1", "VERSION=2"),
        dockerfile.replace("FROM c AS e\n", 'FROM c AS e\nCMD ["new"]\n'),
    ):
        (tmp_path / "Dockerfile").write_text(changed)
        again = _plan_here(tmp_path)
        builds = fastpath.needing_own_build(again, probed, True, why.Record.start(again))
        # e, and f built on it (whose records name e as it was): their caches are not proven
        # current (other stages' caches could have served their hits), so exported and pushed;
        # final, which no stage uses, hit from its own cache on a new runner: pushed only.
        assert [(b.stage, bool(b.cache.cache_to)) for b in builds] == [("e", True), ("f", True), ("final", False)]


def test_a_stage_with_a_cache_of_its_own_is_not_forecast_from_the_fallback_branch(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello\n")
    plan = many_stages(tmp_path)
    record = why.Record.start(plan)
    now = why._linked(record.current)
    record.fallback = {label: ("spec", "ref", inputs) for label, inputs in now.items()}
    # No cache of its own (a new branch): compared with the fallback branch's record.
    assert {f.stage for f in record.forecast() if f.rebuilt} == set()
    # A cache of its own without a record: nothing can be said of it.
    record.before = dict.fromkeys(now, "sha256:" + "0" * 64)
    assert {f.stage for f in record.forecast() if f.rebuilt} == set(STAGES)


def test_own_builds_to_a_registry_do_not_import_the_caches_the_probe_found_missing(tmp_path: Path) -> None:
    # The first bake of a deep Dockerfile: every cache is missing, and each stage's own build
    # would look up every upstream stage's cache again (a cost that grows with the square of the
    # depth). The caches BuildKit did import stay: an export may read their blobs.
    for toml, dropped in ((REGISTRY, True), (LOCAL, False)):
        plan = many_stages(tmp_path, toml)
        refs = {b.stage: source_of(str(b.cache.cache_from[0])) for b in plan.builds}
        gone = {refs["a"], refs["final"]}
        execution = _execution(plan, ScriptedRunner(own_builds(COLD)))
        execution.rows[:] = [
            report.StageResult("final", "built", missing_caches=(refs["final"],)),
            report.StageResult("d", "built", missing_caches=(refs["a"],)),
        ]
        seen: list = []
        fastpath.export(execution, list(plan.builds), lambda sub, into=seen: into.extend(sub.plan.builds))
        planned = {b.stage: b for b in plan.builds}
        assert [b.stage for b in seen] == list(planned)
        for b in seen:
            before = [source_of(str(s)) for s in planned[b.stage].cache.cache_from]
            after = [source_of(str(s)) for s in b.cache.cache_from]
            assert after == ([r for r in before if r not in gone] if dropped else before), b.stage
            argv = b.build.argv
            imports = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--cache-from"]
            assert [source_of(i) for i in imports] == after, b.stage
        # Not vacuous: more builds than a's own imported a's cache.
        assert sum(refs["a"] in map(source_of, map(str, b.cache.cache_from)) for b in plan.builds) > 1


class _Registry:
    """A stand-in registry for the records' client: the digest each tag points to, and the
    manifest copies asked of it."""

    def __init__(self, digests: dict[str, str], existing: Collection[str] = ()) -> None:
        self.digests = digests  # what the first build wrote, read after it
        self.existing = set(existing)  # the refs that held a manifest before the bake
        self.copies: list[tuple[str, str, str]] = []

    def digest(self, repo: str, reference: str) -> str:
        return self.digests.get(reference, "")

    def absent(self, repo: str, reference: str) -> bool:
        return reference not in self.existing

    def copy_manifest(self, repo: str, reference: str, tag: str) -> str:
        self.copies.append((repo, reference, tag))
        self.existing.add(tag)
        return reference


SHARED = REGISTRY + 'first_export = "shared"\n'


def _new_project(plan: BuildPlan, client: _Registry) -> why.Record:
    """The records of a project none of whose stages has a cache yet."""
    record = why.Record(plan)
    record.before = {b.stage: "" for b in plan.builds}
    record.places = {b.stage: inputstore.place_of(b.cache.cache_from[0]) for b in plan.builds}
    record._clients["registry.example"] = client  # type: ignore[assignment]
    return record


def test_a_first_bake_exports_one_max_cache_and_copies_it_to_every_new_stage(tmp_path: Path) -> None:
    # A deep Dockerfile's first bake: an own build per stage re-solves every stage upstream and
    # exports their records again (N * N / 2 stages' work). One mode=max export holds them all.
    default = many_stages(tmp_path, REGISTRY)  # first_export = "per-stage"
    assert not fastpath.shares_first_cache(default, _new_project(default, _Registry({})))
    plan = many_stages(tmp_path, SHARED + 'registry_mode = "min"\n')
    target = "registry.example/app:cache-final"
    client = _Registry({"cache-final": "sha256:" + "f" * 64})
    record = _new_project(plan, client)
    assert fastpath.shares_first_cache(plan, record)
    first = fastpath.first_build(plan, record)
    assert first.stage == "final"
    exports = [first.build.argv[i + 1] for i, a in enumerate(first.build.argv) if a == "--cache-to"]
    assert exports == [f"type=registry,ref={target},mode=max,ignore-error=true"]
    assert [str(s) for s in first.cache.cache_to] == exports
    assert [str(s) for s in plan.probe_export.cache.cache_to] == [exports[0].replace("max", "min")]
    seen: list = []
    execution = _execution(plan, ScriptedRunner(own_builds(COLD)))
    fastpath.bake(execution, lambda sub: seen.extend(sub.plan.builds), record)
    assert execution.error is None and seen == []  # no own build: every new stage got a copy
    assert client.copies == [("app", "sha256:" + "f" * 64, f"cache-{s}") for s in STAGES if s != "final"]
    rows = {r.stage: r for r in execution.rows}
    assert {s for s, r in rows.items() if r.copied_from == target} == set(STAGES) - {"final"}
    assert rows["final"].cache_to == tuple(exports) and not rows["final"].copied_from
    said = [m for m in execution.display.messages if "copied" in m]
    assert said == [
        f"note: 7 stages (base, a, b, ... f): their cache copied from the first build's {target} (no build, no upload)."
    ]
    # A stage that has a cache already, or a target that has one: no shared export.
    record.before["a"] = "sha256:" + "a" * 64
    assert fastpath.shares_first_cache(plan, record)
    record.before = dict.fromkeys(record.before, "") | {"final": "sha256:" + "a" * 64}
    assert not fastpath.shares_first_cache(plan, record)


def test_a_pushed_new_stage_gets_a_copy_of_the_cache_and_a_build_that_pushes_it(tmp_path: Path) -> None:
    plan = many_stages(tmp_path, SHARED.replace("push = false", "push = true"))
    client = _Registry({"cache-final": "sha256:" + "f" * 64})
    record = _new_project(plan, client)
    seen: list = []
    execution = _execution(plan, ScriptedRunner(own_builds(COLD)))
    fastpath.bake(execution, lambda sub: seen.extend(sub.plan.builds), record)
    assert [b.stage for b in seen] == [s for s in STAGES if s != "final"]
    assert all(not b.cache.cache_to and "--cache-to" not in b.build.argv for b in seen)
    assert len(client.copies) == len(STAGES) - 1
    # The copy cannot be made when the first build's cache cannot be read: every stage's own build.
    execution = _execution(plan, ScriptedRunner(own_builds(COLD)))
    seen.clear()
    fastpath.bake(execution, lambda sub: seen.extend(sub.plan.builds), _new_project(plan, _Registry({})))
    assert [b.stage for b in seen] == [s for s in STAGES if s != "final"]
    assert all(b.cache.cache_to for b in seen)


def test_a_manifest_under_several_refs_is_imported_once(tmp_path: Path) -> None:
    plan = many_stages(tmp_path, REGISTRY)
    record = why.Record(plan)
    shared = "sha256:" + "5" * 64
    record.before = {b.stage: ("sha256:" + str(i) * 64) for i, b in enumerate(plan.builds)}
    record.before |= {"a": shared, "e": shared, "final": shared}
    first = fastpath.first_build(plan, record)
    imported = [Path(source_of(str(spec))).name.removeprefix("app:cache-") for spec in first.cache.cache_from]
    assert imported == ["final", "base", "b", "c", "d", "f"]  # a and e: the same manifest as final
    assert first.build.argv.count("--cache-from") == len(imported)


def test_a_shared_first_export_only_where_the_registry_says_the_caches_are_missing(tmp_path: Path) -> None:
    from stagecache.errors import RegistryError

    plan = many_stages(tmp_path, SHARED)
    assert fastpath.shares_first_cache(plan, _new_project(plan, _Registry({})))
    # Not with a fallback branch's caches in play, nor outside registry mode.
    assert not fastpath.shares_first_cache(replace(plan, fallback_branch="main"), _new_project(plan, _Registry({})))
    local = many_stages(tmp_path, LOCAL + 'first_export = "shared"\n')
    assert not fastpath.shares_first_cache(local, _new_project(local, _Registry({})))
    # No digest read for the target's ref, but the registry did not say it has none (an error,
    # 401, 5xx): not a first bake, whatever else the registry says.
    plan = many_stages(tmp_path, SHARED)

    class Unreadable(_Registry):
        def absent(self, repo: str, reference: str) -> bool:
            raise RegistryError("HTTP 503")

    assert not fastpath.shares_first_cache(plan, _new_project(plan, Unreadable({})))
    assert not fastpath.shares_first_cache(plan, _new_project(plan, _Registry({}, existing={"cache-final"})))

    # A ref written since the bake started (another bake), and a copy the registry refuses:
    # those stages get their whole own build; the others are copied.
    class Refusing(_Registry):
        def copy_manifest(self, repo: str, reference: str, tag: str) -> str:
            if tag == "cache-b":
                raise RegistryError("the registry refused the manifest: HTTP 403")
            return super().copy_manifest(repo, reference, tag)

    client = Refusing({"cache-final": "sha256:" + "f" * 64})
    record = _new_project(plan, client)
    assert fastpath.shares_first_cache(plan, record) and record.has_no_cache("a")  # at the start
    client.existing.add("cache-a")
    seen: list = []
    execution = _execution(plan, ScriptedRunner(own_builds(COLD)))
    fastpath.bake(execution, lambda sub: seen.extend(sub.plan.builds), record)
    assert [(b.stage, bool(b.cache.cache_to)) for b in seen] == [("a", True), ("b", True)]
    assert [tag for _, _, tag in client.copies] == [f"cache-{s}" for s in STAGES if s not in ("a", "b", "final")]
    said = execution.display.messages
    assert "note: b: the first build's cache could not be copied (the registry refused the manifest: HTTP 403)." in said


def test_a_failed_first_build_is_not_copied(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(".stagecache\n")
    plan = plan_for(tmp_path, "many-stages-fail.Dockerfile", SHARED)
    client = _Registry({"cache-final": "sha256:" + "f" * 64})
    record = _new_project(plan, client)
    assert fastpath.shares_first_cache(plan, record)
    failing = Script(recording("many-stages-fail.cold.rawjson"), exit_code=1)
    execution = _execution(plan, ScriptedRunner({"final": failing, "base": Script(WARM)}))
    seen: list = []
    fastpath.bake(execution, lambda sub: seen.extend(sub.plan.builds), record)
    assert execution.error is not None and client.copies == []
    assert sorted(b.stage for b in seen) == ["a", "b", "base"] and all(b.cache.cache_to for b in seen)


def test_a_miss_from_a_shared_first_cache_is_explained_as_one(tmp_path: Path) -> None:
    # A stage whose unchanged step missed, its ref holding the manifest other stages' refs hold
    # (the first build's mode=max cache): not "mode=min exports only ...", and why it may miss.
    current = why.Record.start(many_stages(tmp_path, LOCAL)).current  # (no registry to ask here)
    plan = many_stages(tmp_path, SHARED + 'registry_mode = "min"\n')
    rows = fastpath.probe(_execution(plan, ScriptedRunner(own_builds(WARM))))
    record = why.Record(plan)
    record.current = current
    now = record.now(list(rows.values()))
    record.stored = {label: replace(inputs, cache="sha256:" + "5" * 64) for label, inputs in now.items()}
    missed = replace(rows["e"], steps=tuple(replace(s, cached=False) for s in rows["e"].steps))
    for shared in (True, False):
        record.before = {label: "sha256:" + ("5" if shared else str(i)) * 64 for i, label in enumerate(now)}
        miss = record._explain(missed, {**rows, "e": missed}, now, set())
        assert miss is not None and miss.cause == "not-in-cache", miss
        assert ("mode=min exports only" in miss.detail) is not shared
        assert ('shared with other stages (first_export = "shared")' in miss.detail) is shared
