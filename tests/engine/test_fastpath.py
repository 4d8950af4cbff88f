"""The fast path on the engine (local cache: see fastpath.FAST_MODES): a fresh runner with
nothing changed bakes in one build of the target and writes no cache (the cache folder is left
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
