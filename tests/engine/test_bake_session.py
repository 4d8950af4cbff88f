"""execution = "bake": every stage in one `docker buildx bake` session, with the same
per-stage cache and report as per-stage builds; and export-bake's file run by plain buildx."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stagecache.errors import UsageError
from tests.engine.conftest import Project, all_cached, hits

STAGECACHE = str(Path(sys.executable).parent / "stagecache")


@pytest.mark.parametrize(("mode", "registry_mode"), [("local", "max"), ("registry", "min")])
def test_one_bake_session_caches_every_stage_for_a_fresh_runner(make_project, mode: str, registry_mode: str) -> None:
    p: Project = make_project("diamond")
    p.configure(mode, registry_mode, extra='[build]\nexecution = "bake"\n')
    p.fresh_runner()
    cold = p.bake()
    assert [s.stage for s in cold.stages] == ["base", "deps-a", "deps-b", "app", "runtime"]
    assert cold.cached == 0 and cold.steps == 15, hits(cold)
    if mode == "registry":
        tags = p.registry.tags(p.repo)
        assert sorted(tags) == sorted([f"cache-{s}" for s in hits(cold)] + list(hits(cold)))
    p.fresh_runner()
    warm = p.bake()
    assert all_cached(warm), hits(warm)
    p.append("a.txt", "edit")
    p.fresh_runner()
    edited = hits(p.bake())
    # Same hits as per-stage builds (tests/engine/test_bake.py): only deps-a after its COPY, and app.
    assert edited["deps-a"] == {1: True, 2: True, 3: False, 4: False}
    assert all(edited["deps-b"].values()) and all(edited["base"].values())
    assert edited["app"][1] is True and edited["app"][2] is False


def test_classic_cannot_run_as_a_bake_session(make_project) -> None:
    p: Project = make_project("hello")
    p.configure("classic", extra='[build]\nexecution = "bake"\n')
    with pytest.raises(UsageError, match="cache mode 'classic' uses the legacy builder, which has no bake equivalent"):
        p.bake()


def test_exported_bake_file_runs_with_plain_buildx(make_project, tmp_path: Path) -> None:
    p: Project = make_project("hello")
    p.configure("local")
    definition = tmp_path / "docker-bake.json"
    done = subprocess.run(
        [STAGECACHE, "export-bake", str(definition), "-C", str(p.root)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(definition.read_text())
    assert data["group"]["default"]["targets"] == ["compile-image", "runtime-image"]
    built = subprocess.run(
        ["docker", "buildx", "bake", "--file", str(definition), "--progress", "plain"], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-3000:]
    cache = p.root / ".stagecache" / "cache"
    assert (cache / "compile-image" / "index.json").is_file() and (cache / "runtime-image" / "index.json").is_file()
    # stagecache then uses what plain bake exported.
    p.fresh_runner()
    assert all_cached(p.bake())
