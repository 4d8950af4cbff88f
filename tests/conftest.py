"""Shared fixtures. Tests under tests/engine/ get the ``engine`` marker
automatically and need the real engine from scripts/engine.sh; in CI (CI=true)
or with --no-runtime-skip a missing engine fails them instead of skipping.

With pytest-xdist (``-n N``), worker gw0 uses the first engine and each other worker gwK
an engine of its own, context stagecache-wK, which ``STAGECACHE_TEST_ENGINES=N
scripts/engine.sh up`` starts: the worker's docker config makes it docker's current context,
so every docker command of the worker's tests, and of the stagecache they run, goes there
(the engine tests prune a builder's cache, so no two workers share one)."""

from __future__ import annotations

import json
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


def _worker_index() -> int:
    """This xdist worker's number (gw3: 3); 0 without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


def _worker_context() -> str:
    """The docker context of this worker's own engine ("" for gw0, or when there is none)."""
    index = _worker_index()
    contexts = [c for c in _engine_env().get("STAGECACHE_TEST_WORKER_CONTEXTS", "").split(",") if c]
    return contexts[index - 1] if 0 < index <= len(contexts) else ""


def docker_config(folder: Path, **settings: object) -> dict[str, str]:
    """A docker config folder with ``settings`` in its config.json that keeps this worker's
    engine: its current context, the contexts and CLI plugins docker knows. The environment
    to use it."""
    folder.mkdir(parents=True, exist_ok=True)
    context = _worker_context()
    if context:
        settings = {**settings, "currentContext": context}
        known = Path(os.environ.get("STAGECACHE_TEST_DOCKER_CONFIG") or Path.home() / ".docker")
        for name in ("contexts", "cli-plugins"):
            if (known / name).is_dir():
                (folder / name).symlink_to(known / name, target_is_directory=True)
    (folder / "config.json").write_text(json.dumps(settings))
    return {"DOCKER_CONFIG": str(folder)}


@pytest.fixture(autouse=True, scope="session")
def _worker_engine(tmp_path_factory: pytest.TempPathFactory):
    """Under xdist, point docker at this worker's own engine (see the module's docstring)."""
    if not _worker_context():
        yield
        return
    saved = os.environ.get("DOCKER_CONFIG")
    # Where docker's contexts are: the folder the worker's config links to.
    user = Path(saved or Path.home() / ".docker")
    os.environ["STAGECACHE_TEST_DOCKER_CONFIG"] = str(user)
    # The user's own settings (proxies, plugin folders, credential helpers), with the worker's
    # engine as the current context.
    own = json.loads((user / "config.json").read_text()) if (user / "config.json").is_file() else {}
    os.environ.update(docker_config(tmp_path_factory.mktemp("docker-config"), **own))
    yield
    del os.environ["STAGECACHE_TEST_DOCKER_CONFIG"]
    if saved is None:
        del os.environ["DOCKER_CONFIG"]
    else:
        os.environ["DOCKER_CONFIG"] = saved


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
    """The docker context of the engine with the classic image store ("" when the
    engine script did not start one: a machine whose docker it did not start)."""
    context: str = "default"
    """The docker context of the engine this test process builds on (docker's current one)."""


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
    own = _worker_context()
    problem = None
    if "STAGECACHE_TEST_REGISTRY" not in env:
        problem = "no engine environment (.engine/env); run `scripts/engine.sh up`"
    elif _worker_index() > 0 and not own:
        # A set-up error, not a missing engine: it fails, whatever CI says.
        workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "N")
        pytest.fail(
            f"test worker {os.environ['PYTEST_XDIST_WORKER']} has no engine of its own (workers share no engine: "
            f"the tests prune its build cache); start one per worker with `STAGECACHE_TEST_ENGINES={workers} "
            "scripts/engine.sh up`, or run pytest with `-n $(scripts/engine.sh workers)` (`make test` does both)",
            pytrace=False,
        )
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
    context = subprocess.run(["docker", "context", "show"], capture_output=True, text=True, timeout=30)
    current = context.stdout.strip() or "default"
    if own and current != own:
        # DOCKER_HOST or DOCKER_CONTEXT beat the worker's config: every worker would share one engine.
        pytest.fail(
            f"test worker {os.environ['PYTEST_XDIST_WORKER']} reaches docker context '{current}', not its own "
            f"'{own}': unset DOCKER_HOST and DOCKER_CONTEXT to run the tests in parallel",
            pytrace=False,
        )
    return Engine(
        context=current,
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
