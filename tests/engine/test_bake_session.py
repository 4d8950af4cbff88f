"""execution = "bake": every stage in one `docker buildx bake` session, with the same
per-stage cache and report as per-stage builds; and export-bake's file run by plain buildx.

The buildx on the test engine (0.13) drops a bake target's `network`, and the engine has
no bridge network, so these tests build examples/diamond-copy, which has no RUN step
(the cache semantics are the same); a project that sets a network gets a clear exit 3.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stagecache.errors import EnvironmentProblem, UsageError
from tests.engine.conftest import Project, all_cached, hits

STAGECACHE = str(Path(sys.executable).parent / "stagecache")


def copy_only(make_project, mode: str, registry_mode: str = "max", extra: str = "") -> Project:
    p: Project = make_project("diamond-copy")
    (p.root / "stagecache.toml").write_text(
        f'[project]\nimage = "{p.image}"\n[cache]\nmode = "{mode}"\nregistry_mode = "{registry_mode}"\n{extra}'
    )
    return p


@pytest.mark.parametrize(("mode", "registry_mode"), [("local", "max"), ("registry", "min")])
def test_one_bake_session_caches_every_stage_for_a_fresh_runner(make_project, mode: str, registry_mode: str) -> None:
    p = copy_only(make_project, mode, registry_mode, '[build]\nexecution = "bake"\n')
    p.fresh_runner()
    cold = p.bake()
    assert [s.stage for s in cold.stages] == ["base", "deps-a", "deps-b", "app", "runtime"]
    assert cold.cached == 0 and cold.steps == 11, hits(cold)
    if mode == "registry":
        stages = list(hits(cold))
        assert sorted(p.registry.tags(p.repo)) == sorted(
            [*stages, *(f"cache-{s}" for s in stages), *(f"cache-{s}.inputs" for s in stages)]
        )
    per_stage = {s.stage: s for s in cold.stages}
    assert per_stage["runtime"].pushed == ((f"{p.image}:runtime",) if mode == "registry" else ())
    p.fresh_runner()
    warm = p.bake()
    assert all_cached(warm), hits(warm)
    p.append("a.txt", "edit")
    p.fresh_runner()
    edited = hits(p.bake())
    # As with per-stage builds, only what depends on a.txt reruns. (deps-a's WORKDIR may show as a
    # miss: in one session each target lists the step under its own digest, and one of them may run it.)
    assert edited["base"] == {2: True, 3: True} and edited["deps-b"] == {1: True, 2: True}
    assert edited["deps-a"][2] is False
    assert edited["app"] == {1: False, 2: False, 3: False}
    assert edited["runtime"] == {2: True, 3: False}


def test_bake_session_with_a_network_this_buildx_ignores_is_exit_3(make_project) -> None:
    p = copy_only(make_project, "local", extra='[build]\nexecution = "bake"\n')
    toml = (p.root / "stagecache.toml").read_text().replace("[project]\n", '[project]\nnetwork = "none"\n')
    (p.root / "stagecache.toml").write_text(toml)
    done = subprocess.run([STAGECACHE, "bake", "-C", str(p.root)], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert "ignores a bake target's network" in done.stderr and 'execution = "per-stage"' in done.stderr
    assert not list((p.root / ".stagecache" / "cache").glob("*/index.json"))
    with pytest.raises(EnvironmentProblem):
        p.bake()


def test_classic_cannot_run_as_a_bake_session(make_project) -> None:
    p = copy_only(make_project, "classic", extra='[build]\nexecution = "bake"\n')
    with pytest.raises(UsageError, match="cache mode 'classic' uses the legacy builder, which has no bake equivalent"):
        p.bake()


def test_exported_bake_file_runs_with_plain_buildx(make_project, tmp_path: Path) -> None:
    p = copy_only(make_project, "local")
    toml = p.root / "stagecache.toml"
    toml.write_text(toml.read_text().replace("[project]\n", '[project]\nnetwork = "none"\n'))
    definition = p.root / "docker-bake.json"
    done = subprocess.run(
        [STAGECACHE, "export-bake", "docker-bake.json"], capture_output=True, text=True, cwd=p.root
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout
        == "wrote docker-bake.json: run it with `docker buildx bake --file docker-bake.json` in this folder.\n"
    )
    # buildx 0.13 drops a bake target's network (see ENGINE.md): the file cannot keep network = "none".
    assert done.stderr.startswith('warning: [project].network = "none" is in the file, but this buildx ignores')
    data = json.loads(definition.read_text())
    assert data["group"]["default"]["targets"] == ["base", "deps-a", "deps-b", "app", "runtime"]
    assert str(tmp_path) not in definition.read_text()  # no absolute path: the file can be committed
    # Shared: the project (and its bake file) moved to another folder, where plain bake runs it.
    moved = tmp_path / "elsewhere" / p.root.name
    shutil.copytree(p.root, moved)
    built = subprocess.run(
        ["docker", "buildx", "bake", "--file", "docker-bake.json", "--progress", "plain"],
        capture_output=True, text=True, cwd=moved,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    assert all(
        (moved / ".stagecache" / "cache" / s / "index.json").is_file() for s in data["group"]["default"]["targets"]
    )
    built = subprocess.run(
        ["docker", "buildx", "bake", "--file", "docker-bake.json", "--progress", "plain"],
        capture_output=True, text=True, cwd=p.root,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    cache = p.root / ".stagecache" / "cache"
    assert all((cache / s / "index.json").is_file() for s in data["group"]["default"]["targets"])
    # stagecache then imports what plain bake exported.
    p.fresh_runner()
    assert all_cached(p.bake())
