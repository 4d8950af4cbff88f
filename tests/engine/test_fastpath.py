"""The fast path on the engine (local and registry caches: see plan.FAST_MODES): a fresh
runner with nothing changed bakes in one build of the target (plus a push-only build per pushed
stage image) and writes no cache (the cache folder is left
byte for byte as it was); a change rebuilds and exports only the stages it touched; an engine
that baked the project before gets per-stage builds, as without the fast path."""

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


def test_an_engine_that_baked_the_project_gets_per_stage_builds(make_project) -> None:
    p: Project = make_project("hello")
    p.configure("local")
    p.bake()  # the engine now holds the project's images
    result = p.bake()
    assert all_cached(result)
    # Per-stage: each stage exported its own cache (its own build ran), as without the fast path.
    assert all(s.cache_to for s in result.stages) and all(s.tags for s in result.stages)


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

    caches, before = cache_digests(), layers()
    p.fresh_runner()
    again = p.bake()
    assert all_cached(again), hits(again)
    assert all(s.cache_to == () for s in again.stages), again.stages  # (export_seconds: the pushes)
    assert all(s.pushed for s in again.stages)  # every tag points at this bake's image
    assert cache_digests() == caches  # not one cache manifest written
    assert layers() == before  # the registry had every layer: none pushed

    # A change to deps-b: only deps-b and the stages built on it export, and the next fresh
    # runner finds every stage in its cache.
    p.append("b.txt", "changed")
    p.fresh_runner()
    changed = p.bake()
    assert {s.stage for s in changed.stages if s.cache_to} == {"deps-b", "app", "runtime"}
    assert {s for s, d in cache_digests().items() if d != caches[s]} == {"deps-b", "app", "runtime"}
    p.fresh_runner()
    assert all_cached(p.bake())
