"""Shared fixtures. Tests under tests/engine/ get the ``engine`` marker
automatically and need the real engine from scripts/engine.sh; in CI (CI=true)
or with --no-runtime-skip a missing engine fails them instead of skipping."""

from __future__ import annotations

import os
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-runtime-skip",
        action="store_true",
        help="fail engine tests when the engine is missing, instead of skipping them (default when CI=true)",
    )


@pytest.fixture(autouse=True, scope="session")
def _own_cache_folder(tmp_path_factory: pytest.TempPathFactory):
    """Local caches that default to the user's cache folder go to a temporary one, for the
    tests and every stagecache they start: a test run never writes to ~/.cache."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if saved is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = saved


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    engine_dir = Path(__file__).resolve().parent / "engine"
    for item in items:
        if engine_dir in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.engine)


@dataclass(frozen=True)
class Engine:
    """The running test engine: registry address and base images."""

    registry: str
    base_image: str
    local_base_image: str
    classic_context: str = ""
    """The docker context of the second engine, with the classic image store ("" when the
    engine script did not start one: a machine whose docker it did not start)."""


def _engine_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith("STAGECACHE_TEST_")}
    env_file = ROOT / ".engine" / "env"
    if "STAGECACHE_TEST_REGISTRY" not in env and env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            env.setdefault(key, value)
    return env


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest) -> Engine:
    """Probe the engine once per session."""
    strict = request.config.getoption("--no-runtime-skip") or os.environ.get("CI") == "true"
    env = _engine_env()
    problem = None
    if "STAGECACHE_TEST_REGISTRY" not in env:
        problem = "no engine environment (.engine/env); run `scripts/engine.sh up`"
    else:
        try:
            subprocess.run(["docker", "info"], check=True, capture_output=True, timeout=30)
            subprocess.run(["docker", "buildx", "version"], check=True, capture_output=True, timeout=30)
            urllib.request.urlopen(f"http://{env['STAGECACHE_TEST_REGISTRY']}/v2/", timeout=5).read()
        except (OSError, subprocess.SubprocessError) as exc:
            problem = f"engine not usable: {exc}"
    if problem:
        if strict:
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)
    return Engine(
        registry=env["STAGECACHE_TEST_REGISTRY"],
        base_image=env["STAGECACHE_TEST_BASE_IMAGE"],
        local_base_image=env["STAGECACHE_TEST_LOCAL_BASE_IMAGE"],
        classic_context=env.get("STAGECACHE_TEST_CLASSIC_CONTEXT", ""),
    )


def write(path: Path, text: str) -> Path:
    """Write a test file (dedented by the caller) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
