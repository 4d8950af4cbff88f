"""The embedded default on plain projects, on the engine: a folder with only a Dockerfile (no
stagecache.toml, no .dockerignore) bakes with the local cache outside the project, says where
that cache is on the first run, never sends it as build context, and a fresh runner then hits
every step. The project folder is left exactly as it was."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from stagecache import config as cfg
from stagecache.runner import Runner
from tests.conftest import Engine
from tests.engine.conftest import tree_digest

STAGECACHE = str(Path(sys.executable).parent / "stagecache")


def test_a_plain_project_bakes_with_the_embedded_default(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / f"plain-{uuid.uuid4().hex[:8]}"
    root.mkdir()
    # No RUN step: this engine has no bridge network, and a plain project sets no [project].network
    # (the next test shows what a RUN step gets here).
    (root / "Dockerfile").write_text(
        f"FROM {engine.base_image} AS deps\nCOPY main.txt /deps/\n"
        f"FROM {engine.base_image} AS app\nCOPY --from=deps /deps /deps\nCOPY . /src\nWORKDIR /src\n"
    )
    (root / "main.txt").write_text(uuid.uuid4().hex)
    before = tree_digest(root)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    runner = Runner()
    repositories = (cfg.default_image(root),)
    try:
        first = subprocess.run([STAGECACHE, "bake", "-C", str(root), "--progress", "plain"],
                               capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
        assert first.returncode == 0, first.stderr
        cache = next((tmp_path / "xdg" / "stagecache").iterdir())
        assert f"note: the local cache is in {cache} (created now)." in first.stdout + first.stderr
        assert sorted(p.name for p in cache.iterdir()) == [".lock", "CACHEDIR.TAG", "app", "deps"]
        assert cache.parent == tmp_path / "xdg" / "stagecache" and cache.name.startswith(root.name + "-")
        assert tree_digest(root) == before and sorted(p.name for p in root.iterdir()) == ["Dockerfile", "main.txt"]

        runner.simulate_fresh_runner(repositories)
        again = subprocess.run([STAGECACHE, "bake", "-C", str(root), "--progress", "plain"],
                               capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert "the local cache is in" not in again.stdout + again.stderr  # said once, when created
        total = next(ln for ln in again.stdout.splitlines() if ln.startswith("total"))
        assert total.split()[1:4] == ["4", "4", "100%"], again.stdout
    finally:
        runner.remove_repositories(repositories)


def test_a_run_step_on_an_engine_without_a_bridge_says_how_to_set_the_network(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / f"plain-{uuid.uuid4().hex[:8]}"
    root.mkdir()
    (root / "Dockerfile").write_text(f"FROM {engine.base_image} AS app\nRUN echo {uuid.uuid4().hex} > /x\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    try:
        done = subprocess.run([STAGECACHE, "bake", "-C", str(root), "--progress", "plain"],
                              capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
        assert done.returncode == 3, done.stderr
        assert "this engine has no default bridge network (dockerd runs with --bridge=none)" in done.stderr
        # doctor sees it before any bake, and --network none is the fix without a config file.
        doctor = subprocess.run([STAGECACHE, "doctor", "-C", str(root)], capture_output=True, text=True, env=env)
        assert doctor.returncode == 3 and "FAIL  network" in doctor.stdout
        fixed = subprocess.run([STAGECACHE, "doctor", "-C", str(root), "--network", "none"],
                               capture_output=True, text=True, env=env)  # fmt: skip
        assert fixed.returncode == 0, fixed.stdout
        # A stage ran, so the summary is shown, exit 3 or not.
        assert done.stdout.splitlines()[2].split()[:2] == ["app", "1"] and "failed" in done.stdout
        fixed = subprocess.run([STAGECACHE, "bake", "-C", str(root), "--progress", "plain", "--network", "none"],
                               capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
        assert fixed.returncode == 0, fixed.stderr
    finally:
        Runner().remove_repositories((cfg.default_image(root),))
