"""What a failed build means, on streams recorded from the engine: a step that failed (exit 1),
an image that could not be pulled (exit 1, not a registry error), the legacy builder's
empty-layer failure (exit 3, its text kept)."""

from __future__ import annotations

from pathlib import Path

from stagecache import config as cfg
from stagecache.errors import BuildFailed, EnvironmentProblem, RegistryError
from stagecache.failures import build_failure
from stagecache.plan import make_plan
from stagecache.progress import BuildProgress, LegacyProgress
from stagecache.report import StageResult
from tests.conftest import DATA


def plan_for(tmp_path: Path, mode: str = "registry"):
    (tmp_path / "Dockerfile").write_text("FROM alpine AS a\nRUN true\n")
    (tmp_path / "stagecache.toml").write_text(f'[project]\nimage = "reg.example.com/app"\n[cache]\nmode = "{mode}"\n')
    return make_plan(cfg.load(tmp_path / "stagecache.toml", env={}))


def read(progress, name: str):
    progress.feed((DATA / name).read_text())
    progress.close()
    return progress


def test_a_stage_name_typo_is_a_build_error_naming_the_image_and_the_stage(tmp_path: Path) -> None:
    build = plan_for(tmp_path).builds[0]
    progress = read(BuildProgress(), "rawjson-pull-stage-typo.txt")
    error = build_failure(build, progress, 1, StageResult("a", "failed"))
    assert isinstance(error, BuildFailed) and error.exit_code == 1
    assert error.message.splitlines()[0] == (
        "stage 'a': the image docker.io/library/compile-imag:latest could not be pulled (builder exit 1). BuildKit "
        "pulls any --from or FROM that names no stage: did you mean stage 'compile-image'? Fix the name in the "
        "Dockerfile."
    )
    assert "registry operation" not in error.message and ".stagecache" not in error.message


def test_a_missing_base_image_is_a_build_error(tmp_path: Path) -> None:
    build = plan_for(tmp_path).builds[0]
    progress = read(BuildProgress(), "rawjson-pull-missing-image.txt")
    error = build_failure(build, progress, 1, StageResult("a", "failed"))
    assert isinstance(error, BuildFailed)
    assert error.message.splitlines()[0] == (
        "stage 'a': the image 127.0.0.1:47989/nope/none:1 could not be pulled (builder exit 1). The registry has no "
        "such image or tag: fix the name or tag, or push the image there first."
    )


def test_a_run_step_on_an_engine_without_a_bridge_network_says_how_to_set_the_network(tmp_path: Path) -> None:
    # Recorded on the test engine (dockerd 26.1.5 with "bridge": "none"): `docker buildx build
    # --progress=rawjson --target a .` of "FROM <base> AS a / RUN echo hi > /x", no --network.
    build = plan_for(tmp_path).builds[0]
    progress = read(BuildProgress(), "rawjson-no-bridge.txt")
    error = build_failure(build, progress, 1, StageResult("a", "failed"))
    assert isinstance(error, EnvironmentProblem) and error.exit_code == 3
    assert error.message.splitlines()[0] == (
        "stage 'a', step 2 (RUN echo hi > /x) failed (builder exit 1): this engine has no default bridge network "
        "(dockerd runs with --bridge=none), so a RUN step cannot get the network it asks for by default. Pass "
        "--network none (RUN steps that need no network) or --network host, or set [project].network in "
        "stagecache.toml, or give dockerd a bridge network."
    )
    assert "network bridge not found" in error.message


def test_the_legacy_builders_empty_layer_failure_is_explained_with_its_text(tmp_path: Path) -> None:
    build = plan_for(tmp_path, "classic").builds[0]
    progress = read(LegacyProgress(), "legacy-empty-layer.txt")
    error = build_failure(build, progress, 1, StageResult("a", "failed"))
    assert isinstance(error, EnvironmentProblem) and error.exit_code == 3
    assert error.message.startswith(
        "stage 'a', step 2 (WORKDIR /root) failed (builder exit 1): the legacy builder on this engine's containerd "
        "image store cannot reuse a cached step whose layer is empty"
    )
    assert 'failed to read diff archive: "" failed validation: invalid argument' in error.message
    assert "(no error text from the builder)" not in error.message


def test_a_pull_the_registry_refuses_is_a_registry_error(tmp_path: Path) -> None:
    # Recorded: FROM an image on a registry with htpasswd auth, no docker login (see tests/data/README.md).
    build = plan_for(tmp_path).builds[0]
    progress = read(BuildProgress(), "rawjson-pull-unauthorized.txt")
    error = build_failure(build, progress, 1, StageResult("a", "failed"))
    assert isinstance(error, RegistryError) and error.exit_code == 5
    assert error.message.splitlines()[0] == (
        "stage 'a': the registry refused to let the builder pull 127.0.0.1:5000/team/base:1 (builder exit 1). "
        "docker login to it with an account that may pull the image."
    )
