"""The fast path on the engine: a fresh runner with nothing changed bakes in one build of the
target, exports no cache and pushes nothing (every tag and cache ref in the registry is left as
it was); a change rebuilds and exports only the stages it touched."""

from __future__ import annotations

from tests.engine.conftest import Project, all_cached, hits


def registry_state(p: Project) -> dict[str, str]:
    return {tag: p.registry.manifest(p.repo, tag)["_digest"] for tag in p.registry.tags(p.repo)}


def test_a_fresh_runner_with_nothing_changed_exports_and_pushes_nothing(make_project) -> None:
    p: Project = make_project("diamond")
    p.configure("registry", "max")  # push is on: stage images go to the registry too
    p.fresh_runner()
    first = p.bake()
    assert first.status == "success" and first.cold
    before = registry_state(p)
    assert sorted(before) == sorted([*(f"cache-{s}" for s in hits(first)), *hits(first)])

    p.fresh_runner()
    again = p.bake()
    assert all_cached(again), hits(again)
    assert all(s.cache_to == () and s.pushed == () and s.export_seconds == 0 for s in again.stages), again.stages
    assert registry_state(p) == before  # not one manifest written
    assert [s.stage for s in again.stages if s.tags] == ["runtime"]  # only the target was loaded

    # A change to deps-b: deps-b and the stages built on it get their own builds and exports.
    p.append("b.txt", "changed")
    p.fresh_runner()
    changed = p.bake()
    assert {s.stage for s in changed.stages if s.cache_to} == {"deps-b", "app", "runtime"}
    after = registry_state(p)
    assert {t for t in after if after[t] != before[t]} == {
        "cache-deps-b", "deps-b", "cache-app", "app", "cache-runtime", "runtime",
    }  # fmt: skip
    assert hits(changed)["deps-a"] == dict.fromkeys(hits(changed)["deps-a"], True)
