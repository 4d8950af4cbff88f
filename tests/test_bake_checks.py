"""bake's checks before building: which builders can export which cache, local cache safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagecache import config as cfg
from stagecache.bake import check_builder, check_local_dir, explain_failure
from stagecache.errors import BuildFailed, EnvironmentProblem, RegistryError, UsageError
from stagecache.plan import make_plan
from stagecache.runner import BuilderInfo, EngineInfo


class InspectOnly:
    """Answers the two inspection questions bake asks; runs nothing."""

    def __init__(self, driver: str, containerd: bool) -> None:
        self.info = BuilderInfo("default", driver, containerd)
        self.engine = EngineInfo("26.1.5", "0.13.1", "overlayfs", containerd)

    def engine_info(self) -> EngineInfo:
        return self.engine

    def builder_info(self, builder: str = "") -> BuilderInfo:
        return self.info


def plan_for(tmp_path: Path, mode: str, extra: str = ""):
    (tmp_path / "Dockerfile").write_text("FROM alpine AS a\nRUN true\n")
    (tmp_path / ".dockerignore").write_text(".stagecache\n")
    (tmp_path / "stagecache.toml").write_text(f'[cache]\nmode = "{mode}"\n{extra}')
    return make_plan(cfg.load(tmp_path / "stagecache.toml", env={}))


@pytest.mark.parametrize("mode", ["registry", "local"])
def test_docker_driver_without_containerd_store_cannot_export(tmp_path: Path, mode: str) -> None:
    with pytest.raises(EnvironmentProblem) as info:
        check_builder(plan_for(tmp_path, mode), InspectOnly("docker", containerd=False))
    assert info.value.exit_code == 3
    msg = str(info.value)
    assert msg.startswith(f"cache mode '{mode}' needs a builder that can export cache")
    assert "turn on the containerd image store" in msg and "docker-container builder" in msg


@pytest.mark.parametrize(
    ("mode", "driver", "containerd"),
    [("inline", "docker", False), ("none", "docker", False), ("registry", "docker", True),
     ("local", "docker-container", False), ("registry", "remote", False)],
)  # fmt: skip
def test_builders_that_can_do_it(tmp_path: Path, mode: str, driver: str, containerd: bool) -> None:
    facts = check_builder(plan_for(tmp_path, mode), InspectOnly(driver, containerd))
    assert facts["driver"] == driver


def test_a_failed_build_is_explained_by_the_engine_check_when_that_is_the_cause(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, "local")
    failed = BuildFailed("stage 'a' failed (builder exit 1)")
    explained = explain_failure(failed, plan, InspectOnly("docker", containerd=False))
    assert isinstance(explained, EnvironmentProblem) and explained.exit_code == 3
    assert str(explained).startswith("cache mode 'local' needs a builder that can export cache")
    # A healthy engine: the build's own error stands.
    assert explain_failure(failed, plan, InspectOnly("docker", containerd=True)) is failed
    pushed = RegistryError("pushing x failed")
    assert explain_failure(pushed, plan, InspectOnly("docker", containerd=True)) is pushed


def test_errors_that_are_not_build_failures_are_not_re_checked(tmp_path: Path) -> None:
    class Unreachable(InspectOnly):
        def engine_info(self) -> EngineInfo:
            raise AssertionError("the engine must not be asked")

    usage = UsageError("bad flag")
    assert explain_failure(usage, plan_for(tmp_path, "local"), Unreachable("docker", True)) is usage


def test_local_dir_must_stay_inside_the_project(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is outside the project folder"):
        check_local_dir(plan_for(tmp_path, "local", 'local_dir = "../elsewhere"\n'))
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(UsageError, match="goes through the symlink"):
        check_local_dir(plan_for(tmp_path, "local", 'local_dir = "link/cache"\n'))
    check_local_dir(plan_for(tmp_path, "local"))  # the default is fine
    assert not (tmp_path / ".stagecache").exists()
