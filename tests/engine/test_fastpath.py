"""The fast path on the engine (local and registry caches: see plan.FAST_MODES): with nothing
changed, a bake is one build of the target: it writes no cache (the cache folder is left byte
for byte as it was, no cache manifest moves) and pushes no image whose tag already points at
the image of a bake with the same inputs; a change rebuilds and exports only the stages it
touched. On a fresh runner hits prove a cache current; on an engine that baked the project
before, the record beside each cache does."""

from __future__ import annotations

from tests.engine.conftest import Project, all_cached, hits, tree_digest


def folders(p: Project) -> dict[str, dict[str, str]]:
    cache = p.root / ".stagecache" / "cache"
    digests = tree_digest(cache)
    out: dict[str, dict[str, str]] = {}
    for rel, digest in digests.items():
        stage, _, rest = rel.partition("/")
        if rest:
            out.setdefault(stage, {})[rest] = digest
    return out


def test_a_fresh_runner_with_nothing_changed_writes_no_cache(make_project) -> None:
    p: Project = make_project("diamond")
    p.configure("local")
    p.fresh_runner()
    first = p.bake()
    assert first.status == "success" and first.cold
    before = folders(p)
    assert sorted(before) == sorted(hits(first))

    p.fresh_runner()
    again = p.bake()
    assert all_cached(again), hits(again)
    assert all(s.cache_to == () and s.export_seconds == 0 for s in again.stages), again.stages
    assert folders(p) == before  # not one file of the cache written
    assert [s.stage for s in again.stages if s.tags] == ["runtime"]  # only the target was loaded

    # A change to deps-b: deps-b and the stages built on it get their own builds and exports.
    p.append("b.txt", "changed")
    p.fresh_runner()
    changed = p.bake()
    assert {s.stage for s in changed.stages if s.cache_to} == {"deps-b", "app", "runtime"}
    after = folders(p)
    assert {s for s in after if after[s] != before[s]} == {"deps-b", "app", "runtime"}
    assert hits(changed)["deps-a"] == dict.fromkeys(hits(changed)["deps-a"], True)

    # The next fresh runner finds every stage in its cache.
    p.fresh_runner()
    assert all_cached(p.bake())


def test_on_an_engine_that_baked_the_project_the_records_say_which_caches_are_current(make_project) -> None:
    """An engine that baked the project may serve steps from its own cache, so hits prove
    nothing there; the record beside each stage's cache does: a cache whose record has the
    current inputs is not written again, one whose record is gone or stale is."""
    p: Project = make_project("diamond")
    p.configure("local")
    p.bake()  # the engine now holds the project's images and has every step in its own cache
    before = folders(p)
    again = p.bake()
    assert all_cached(again)
    assert all(s.cache_to == () for s in again.stages), again.stages
    assert folders(p) == before  # not one file of the cache written

    # A change to deps-b: deps-b and the stages built on it export; deps-a is left as it was.
    p.append("b.txt", "changed")
    changed = p.bake()
    assert {s.stage for s in changed.stages if s.cache_to} == {"deps-b", "app", "runtime"}
    after = folders(p)
    assert after["deps-a"] == before["deps-a"]

    # A record that is gone proves nothing: that stage exports again (its steps all hit, from
    # the engine), and gets its record back.
    (p.root / ".stagecache" / "cache" / "deps-a" / "stagecache-inputs.json").unlink()
    lost = p.bake()
    assert all_cached(lost)
    assert {s.stage for s in lost.stages if s.cache_to} == {"deps-a"}
    assert (p.root / ".stagecache" / "cache" / "deps-a" / "stagecache-inputs.json").is_file()
    assert all(s.cache_to == () for s in p.bake().stages)


def test_registry_a_fresh_runner_with_nothing_changed_exports_no_cache_and_pushes_no_new_layer(make_project) -> None:
    """Registry caches, stage images pushed (the mode's default): with nothing changed, a fresh
    runner writes no cache manifest, and each stage's pushed image has the layers it had."""
    p: Project = make_project("diamond")
    p.configure("registry", "max")
    p.fresh_runner()
    first = p.bake()
    assert first.status == "success" and first.cold
    stages = [s.stage for s in first.stages]

    def cache_digests() -> dict[str, str]:
        return {s: p.registry.manifest(p.repo, f"cache-{s}")["_digest"] for s in stages}

    def layers() -> dict[str, list[str]]:
        out = {}
        for s in stages:
            m = p.registry.manifest(p.repo, s)
            if "manifests" in m:  # an index: the image's own manifest (not an attestation)
                own = next(d for d in m["manifests"] if d.get("platform", {}).get("os") != "unknown")
                m = p.registry.manifest(p.repo, own["digest"])
            out[s] = [layer["digest"] for layer in m["layers"]]
        return out

    def images() -> dict[str, str]:
        return {s: p.registry.manifest(p.repo, s)["_digest"] for s in stages}

    caches, before, pushed = cache_digests(), layers(), images()
    p.fresh_runner()
    again = p.bake()
    assert all_cached(again), hits(again)
    assert all(s.cache_to == () and s.export_seconds == 0 for s in again.stages), again.stages
    # Every tag already pointed at the image of a bake with the same inputs: none pushed.
    assert not any(s.pushed for s in again.stages), again.stages
    assert {s.stage for s in again.stages if s.unchanged} == set(stages)
    assert cache_digests() == caches  # not one cache manifest written
    assert images() == pushed and layers() == before  # not one tag moved

    # A tag that moved (another tool pushed over it) is pushed again; the others are not.
    other = stages[0]
    p.registry.put_artifact(p.repo, other, "application/vnd.example.other+json", b"{}")
    foreign = p.registry.digest(p.repo, other)
    p.fresh_runner()
    moved = p.bake()
    assert all_cached(moved) and [s.stage for s in moved.stages if s.pushed] == [other]
    assert images()[other] != foreign and layers() == before
    assert {s: d for s, d in images().items() if s != other} == {s: d for s, d in pushed.items() if s != other}

    # A change to deps-b: only deps-b and the stages built on it export, and the next fresh
    # runner finds every stage in its cache.
    p.append("b.txt", "changed")
    p.fresh_runner()
    changed = p.bake()
    assert {s.stage for s in changed.stages if s.cache_to} == {"deps-b", "app", "runtime"}
    assert {s for s, d in cache_digests().items() if d != caches[s]} == {"deps-b", "app", "runtime"}
    p.fresh_runner()
    assert all_cached(p.bake())

    # A change to the target alone (the records forecast it): the first build exports its cache
    # and pushes its image, and no stage gets a build of its own.
    caches, pushed = cache_digests(), images()
    p.append("motd.txt", "changed")
    p.fresh_runner()
    late = p.bake()
    assert {s.stage for s in late.stages if s.cache_to} == {"runtime"}
    assert {s.stage for s in late.stages if s.pushed} == {"runtime"}
    assert {s.stage for s in late.stages if s.unchanged} == {"base", "deps-a", "deps-b", "app"}  # no own builds
    assert {s for s, d in cache_digests().items() if d != caches[s]} == {"runtime"}
    assert {s for s, d in images().items() if d != pushed[s]} == {"runtime"}
    p.fresh_runner()
    assert all_cached(p.bake())


def test_registry_a_first_bake_exports_one_cache_and_copies_it_to_the_other_stages(make_project) -> None:
    """``first_export = "shared"``. The first bake of a project, no stage with a cache yet
    (``mode=min``): the first build
    exports the target's cache with ``mode=max`` and every other stage gets that manifest under
    its own ref, instead of an own build each (which re-solves every stage upstream of it). A
    fresh runner then finds every step, importing that manifest once; a later change exports
    the changed stages' own caches, with the configured mode."""
    p: Project = make_project("diamond")
    p.configure("registry", "min", extra='first_export = "shared"\n')
    p.fresh_runner()
    first = p.bake()
    assert first.status == "success" and first.cold
    rows = {s.stage: s for s in first.stages}
    shared = f"{p.image}:cache-runtime"
    assert rows["runtime"].cache_to == (f"type=registry,ref={shared},mode=max,ignore-error=true",)
    assert {s for s, r in rows.items() if r.copied_from == shared} == set(rows) - {"runtime"}
    assert not any(r.cache_to for s, r in rows.items() if s != "runtime")
    assert {s for s, r in rows.items() if r.pushed} == set(rows)  # images pushed as before
    digests = {s: p.registry.digest(p.repo, f"cache-{s}") for s in rows}
    assert len(set(digests.values())) == 1 and all(digests.values())

    p.fresh_runner()
    again = p.bake()
    assert all_cached(again), hits(again)
    assert all(s.cache_to == () for s in again.stages) and not any(s.pushed for s in again.stages)
    assert [c for s in again.stages for c in s.cache_from] == [f"type=registry,ref={shared}"]

    p.append("b.txt", "changed")
    p.fresh_runner()
    changed = p.bake()
    exported = {s.stage: s.cache_to for s in changed.stages if s.cache_to}
    # deps-a too when a step of it missed with the shared cache (the hit such a cache can lose:
    # benchmarks/results/shared-first-export-diamond-copy.txt); it then exports its own.
    assert {"deps-b", "app", "runtime"} <= set(exported) <= {"deps-a", "deps-b", "app", "runtime"}
    assert all(spec.endswith(",mode=min,ignore-error=true") for specs in exported.values() for spec in specs)
    p.fresh_runner()
    assert all_cached(p.bake())


def test_inline_a_fresh_runner_with_nothing_changed_pushes_nothing(make_project) -> None:
    """Inline caches live in the pushed stage images: a stage whose steps all hit from its own
    image is left as it is (no build of its own, no push), and its record says which image."""
    p: Project = make_project("diamond")
    p.configure("inline")
    p.fresh_runner()
    first = p.bake()
    assert first.status == "success" and all(s.pushed for s in first.stages)
    stages = [s.stage for s in first.stages]

    def images() -> dict[str, str]:
        return {s: p.registry.digest(p.repo, s) for s in stages}

    pushed = images()
    assert all(pushed.values()) and all(p.registry.digest(p.repo, f"{s}.inputs") for s in stages)
    p.fresh_runner()
    again = p.bake()
    assert all_cached(again), hits(again)
    assert not any(s.pushed for s in again.stages) and all(s.unchanged for s in again.stages), again.stages
    assert images() == pushed

    p.append("b.txt", "changed")
    p.fresh_runner()
    changed = p.bake()
    assert {s.stage for s in changed.stages if s.pushed} == {"deps-b", "app", "runtime"}
    assert {s for s, d in images().items() if d != pushed[s]} == {"deps-b", "app", "runtime"}
    p.fresh_runner()
    assert all_cached(p.bake())


def test_a_new_branch_gets_the_fallback_branch_s_current_caches_by_copy(make_project) -> None:
    """The first bake of a branch imports the fallback branch's caches; where they hold the
    stage's current inputs, their manifests (and the stage images their records name) are put
    under the branch's own refs in the registry: nothing is built again or uploaded, and the
    next bake of the branch finds caches of its own."""
    p: Project = make_project("diamond")
    p.configure("registry", extra='ref = "{image}:cache-{branch}-{stage}"\n')
    p.fresh_runner()
    main = p.bake(branch="main")
    reg = p.registry
    stages = [s.stage for s in main.stages]

    def tag_of(ref: str) -> str:
        return ref.rpartition(":")[2]

    def digests(prefix: str) -> dict[str, str]:
        return {s: reg.digest(p.repo, f"cache-{prefix}-{s}") for s in stages}

    main_caches = digests("main")
    main_images = {s.stage: reg.digest(p.repo, tag_of(s.pushed[0])) for s in main.stages}
    p.fresh_runner()
    feature = p.bake(branch="feature")
    assert all_cached(feature), hits(feature)
    assert {s.stage: s.copied_from for s in feature.stages} == {s: f"{p.image}:cache-main-{s}" for s in stages}
    assert all(s.cache_to == () and s.pushed == (f"{p.image}:feature-{s.stage}",) for s in feature.stages)
    assert digests("feature") == main_caches  # the same manifests, under the branch's refs
    assert {s.stage: reg.digest(p.repo, tag_of(s.pushed[0])) for s in feature.stages} == main_images
    assert all(reg.digest(p.repo, f"cache-feature-{s}.inputs") for s in stages)
    assert digests("main") == main_caches  # main's refs untouched

    # The branch's next fresh runner finds its own caches and records: nothing written.
    p.fresh_runner()
    again = p.bake(branch="feature")
    assert all_cached(again) and all(not s.copied_from and not s.cache_to and not s.pushed for s in again.stages)

    # A change on the branch: only its stages that changed export, to the branch's refs.
    p.append("b.txt", "changed on the branch")
    p.fresh_runner()
    changed = p.bake(branch="feature")
    assert {s.stage for s in changed.stages if s.cache_to} == {"deps-b", "app", "runtime"}
    assert {s for s, d in digests("feature").items() if d != main_caches[s]} == {"deps-b", "app", "runtime"}
    assert digests("main") == main_caches
