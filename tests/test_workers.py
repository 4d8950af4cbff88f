"""Which engine each pytest-xdist worker builds on (tests/conftest.py): gw0 on docker's current
one, gwK on the engine script's stagecache-wK, through a docker config of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import conftest


@pytest.fixture
def two_engines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The environment of `STAGECACHE_TEST_ENGINES=3 scripts/engine.sh up`, and a user's docker
    config folder with contexts, CLI plugins and settings of its own."""
    monkeypatch.setenv("STAGECACHE_TEST_REGISTRY", "127.0.0.1:5000")
    monkeypatch.setenv("STAGECACHE_TEST_WORKER_CONTEXTS", "stagecache-w1,stagecache-w2")
    user = tmp_path / "user-docker"
    for name in ("contexts", "cli-plugins"):
        (user / name).mkdir(parents=True)
    monkeypatch.setenv("STAGECACHE_TEST_DOCKER_CONFIG", str(user))
    return user


@pytest.mark.parametrize(
    ("worker", "context"),
    [("gw0", ""), ("gw1", "stagecache-w1"), ("gw2", "stagecache-w2"), ("gw3", ""), (None, "")],
)
def test_each_worker_after_the_first_has_its_own_engine(
    two_engines: Path, monkeypatch: pytest.MonkeyPatch, worker: str | None, context: str
) -> None:
    if worker is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    assert conftest._worker_context() == context


def test_a_worker_s_docker_config_keeps_its_engine_and_the_user_s_settings(
    two_engines: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw2")
    env = conftest.docker_config(tmp_path / "worker", currentContext="default", proxies={"default": {}})
    folder = Path(env["DOCKER_CONFIG"])
    # The worker's engine wins over a current context in the user's settings; the rest is kept.
    assert json.loads((folder / "config.json").read_text()) == {
        "currentContext": "stagecache-w2",
        "proxies": {"default": {}},
    }
    assert (folder / "contexts").resolve() == (two_engines / "contexts").resolve()
    assert (folder / "cli-plugins").resolve() == (two_engines / "cli-plugins").resolve()


def test_the_first_worker_s_docker_config_names_no_context(two_engines: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    folder = Path(conftest.docker_config(tmp_path / "first", auths={})["DOCKER_CONFIG"])
    assert json.loads((folder / "config.json").read_text()) == {"auths": {}}
    assert not (folder / "contexts").exists()
