"""bake on the real engine, on a simulated fresh CI runner, for every cache mode.

Expected hits and misses are asserted step by step (stage -> {step: cached}),
from BuildKit's own progress stream (or the classic builder's output). The
five-stage diamond runs every mode here; the two-stage hello example runs every
bench strategy (per-stage and final-only, classic and BuildKit) in
tests/engine/test_bench.py, which also holds the final-only regression guards.
"""

from __future__ import annotations

import hashlib

import pytest

from stagecache import localcache
from tests.engine.conftest import Project, all_cached, hits

# Per example: the file an early stage copies in after its expensive steps, a file
# only the last stage uses, and the expected hits after a fresh runner + each edit.
CASES = {
    "diamond": {
        "source": "a.txt",
        "late": "motd.txt",
        "edit_late": {
            "base": {2: True},
            "deps-a": {1: True, 2: True, 3: True, 4: True},
            "deps-b": {1: True, 2: True, 3: True, 4: True},
            "app": {1: True, 2: True, 3: True, 4: True, 5: True},
            "runtime": {2: False, 3: False},
        },
        "edit_source": {
            "base": {2: True},
            "deps-a": {1: True, 2: True, 3: False, 4: False},
            "deps-b": {1: True, 2: True, 3: True, 4: True},
            "app": {1: True, 2: False, 3: False, 4: False, 5: False},
            "runtime": {2: True, 3: False},
        },
    },
}
# inline and classic per stage run on hello in tests/engine/test_bench.py (inline-stages, classic-stages);
# here the three modes that differ on a diamond's several upstream caches. Kept short: the suite's budget.
MODES = [("registry", "min"), ("registry", "max"), ("local", "max")]


@pytest.mark.parametrize("example", sorted(CASES))
@pytest.mark.parametrize(("mode", "registry_mode"), MODES, ids=[f"{m}-{r}" if m == "registry" else m for m, r in MODES])
def test_every_stage_cached_on_a_fresh_runner(make_project, example: str, mode: str, registry_mode: str) -> None:
    case = CASES[example]
    p: Project = make_project(example)
    p.configure(mode, registry_mode)
    p.fresh_runner()

    cold = p.bake()
    assert cold.status == "success" and cold.cold
    assert all(not c for stage in hits(cold).values() for c in stage.values())
    expected_stages = list(case["edit_late"])
    assert [s.stage for s in cold.stages] == expected_stages

    p.fresh_runner()
    again = p.bake()
    assert all_cached(again), hits(again)
    assert hits(again) == {s: dict.fromkeys(steps, True) for s, steps in case["edit_late"].items()}

    p.append(case["late"], "edited late")
    p.fresh_runner()
    assert hits(p.bake()) == case["edit_late"]

    p.append(case["source"], "/* edited source */")
    p.fresh_runner()
    assert hits(p.bake()) == case["edit_source"]

    if mode == "local":
        # Each stage's folder holds exactly what its index reaches (the seeded blobs that the
        # new export did not use are gone), and stages share blobs as hard links, not copies.
        cache = p.root / ".stagecache" / "cache"
        folders = sorted(d for d in cache.iterdir() if d.is_dir())
        assert sorted(d.name for d in folders) == sorted(expected_stages)
        inodes: dict[int, int] = {}
        for d in folders:
            blobs = {b.name: b.stat().st_ino for b in (d / "blobs" / "sha256").iterdir()}
            assert set(blobs) == localcache.referenced_blobs(d), d.name
            for ino in blobs.values():
                inodes[ino] = inodes.get(ino, 0) + 1
        assert max(inodes.values()) == len(folders)  # the base image's layer: one file in every cache


def test_a_feature_branch_never_moves_a_tag_the_main_branch_owns(make_project) -> None:
    p: Project = make_project("diamond")
    p.configure(
        "registry",
        extra=f'ref = "{{image}}:cache-{{branch}}-{{stage}}"\n[stages.runtime]\ntags = ["{p.image}:latest"]\n',
    )
    p.fresh_runner()
    p.bake(branch="main")
    reg = p.registry
    main_tags = sorted(t for t in reg.tags(p.repo) if not t.startswith("cache-"))
    assert main_tags == ["latest", "main-app", "main-base", "main-deps-a", "main-deps-b", "main-runtime"]
    owned = {t: reg.manifest(p.repo, t) for t in main_tags}

    p.append("a.txt", "a change on the feature branch")
    p.append("motd.txt", "and another")
    feature = p.bake(branch="feature/login")
    assert "the extra tags of [project].tags and [stages.*].tags are left out" in feature.warnings[0]
    after = sorted(t for t in reg.tags(p.repo) if not t.startswith("cache-"))
    branch = "feature-login-" + hashlib.sha256(b"feature/login").hexdigest()[:8]
    assert set(after) - set(main_tags) == {f"{branch}-{s}" for s in ("app", "base", "deps-a", "deps-b", "runtime")}
    assert {t: reg.manifest(p.repo, t) for t in main_tags} == owned  # not one of main's tags moved
    assert reg.manifest(p.repo, f"{branch}-runtime") != owned["main-runtime"]


def test_fresh_runner_leaves_only_what_a_ci_cache_restores(make_project) -> None:
    import subprocess
    import sys
    from pathlib import Path

    p: Project = make_project("hello")
    p.configure("local")
    p.bake()
    assert p.runner.local_tags(p.image)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "stagecache"), "fresh-runner", "-C", str(p.root), "--allow-prune"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"pruned the build cache of the current builder and removed the local images of {p.image}; "
        "the next bake starts as on a new CI runner.\n"
    )
    assert p.runner.local_tags(p.image) == []
    assert all_cached(p.bake())  # from the local cache folder, which a CI restores
