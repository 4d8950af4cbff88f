"""bake's checks before building: which builders can export which cache, local cache safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagecache import config as cfg
from stagecache import localcache
from stagecache.errors import BuildFailed, EnvironmentProblem, RegistryError, UsageError
from stagecache.plan import make_plan
from stagecache.preflight import check_builder, check_local_dir, explain_failure
from stagecache.runner import BuilderInfo, EngineInfo


class InspectOnly:
    """Answers the two inspection questions bake asks; runs nothing."""

    def __init__(self, driver: str, containerd: bool, buildkit: str = "") -> None:
        self.info = BuilderInfo("default", driver, containerd, buildkit)
        self.engine = EngineInfo("26.1.5", "0.13.1", "overlayfs", containerd)

    def engine_info(self) -> EngineInfo:
        return self.engine

    def builder_info(self, builder: str = "") -> BuilderInfo:
        return self.info


def plan_for(tmp_path: Path, mode: str, extra: str = ""):
    (tmp_path / "Dockerfile").write_text("FROM alpine AS a\nRUN true\n")
    (tmp_path / ".dockerignore").write_text(".stagecache\n")
    (tmp_path / "stagecache.toml").write_text(
        f'[project]\nimage = "reg.example.com/app"\n[cache]\nmode = "{mode}"\n{extra}'
    )
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


@pytest.mark.parametrize(("reported", "fact"), [("v0.13.2", "v0.13.2"), ("v0.0.0+unknown", None), ("", None)])
def test_the_buildkit_version_is_a_fact_when_the_builder_knows_it(tmp_path: Path, reported: str, fact) -> None:
    facts = check_builder(plan_for(tmp_path, "registry"), InspectOnly("docker", True, buildkit=reported))
    assert facts.get("buildkit") == fact


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


def test_local_dir_must_be_a_folder_stagecache_owns(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "app").mkdir()
    (project / "app" / "main.py").write_text("print('mine')\n")
    key = f"{project / 'stagecache.toml'}: key 'cache.local_dir'"
    own = "It must be a folder of its own, such as .stagecache/cache (stagecache creates and tags it)."
    refused = {
        ".": f"{key} is {project}, which holds the project folder {project}; stagecache replaces folders in it. {own}",
        "..": f"{key} is {tmp_path}, which holds the project folder {project}; stagecache replaces folders in it. "
        f"{own}",
        "app": f"{key}: {project / 'app'} holds files stagecache did not create (main.py), and stagecache replaces "
        f"folders inside it. {own}",
    }
    for local_dir, message in refused.items():
        with pytest.raises(UsageError) as info:
            check_local_dir(plan_for(project, "local", f'local_dir = "{local_dir}"\n'))
        assert str(info.value) == message, local_dir
    real = tmp_path / "real"
    real.mkdir()
    (project / "link").symlink_to(real)
    with pytest.raises(UsageError, match="goes through the symlink"):
        check_local_dir(plan_for(project, "local", 'local_dir = "link/cache"\n'))
    # The default, a new folder outside the project, an empty one, and one stagecache tagged (and
    # holding nothing else) are fine.
    check_local_dir(plan_for(project, "local"))
    check_local_dir(plan_for(project, "local", f'local_dir = "{tmp_path / "elsewhere"}"\n'))
    (project / ".stagecache" / "empty").mkdir(parents=True)
    check_local_dir(plan_for(project, "local", 'local_dir = ".stagecache/empty"\n'))
    tagged = project / ".stagecache" / "tagged"
    localcache.claim(tagged)
    check_local_dir(plan_for(project, "local", 'local_dir = ".stagecache/tagged"\n'))
    # Its tag does not make a file stagecache did not write its own.
    (tagged / "whatever").write_text("")
    with pytest.raises(UsageError, match=r"holds files stagecache did not create \(whatever\)"):
        check_local_dir(plan_for(project, "local", 'local_dir = ".stagecache/tagged"\n'))
    # Another tool's CACHEDIR.TAG (cargo's target/, .pytest_cache) is not stagecache's.
    cargo = project / "target"
    (cargo / "release").mkdir(parents=True)
    (cargo / "release" / "app").write_text("a binary")
    (cargo / localcache.TAG).write_text("Signature: 8a477f597d28d172789f06886806bc55\n# created by cargo\n")
    with pytest.raises(UsageError, match=r"holds files stagecache did not create \(CACHEDIR.TAG, release\)"):
        check_local_dir(plan_for(project, "local", 'local_dir = "target"\n'))
    assert not (project / ".stagecache" / "cache").exists() and not (tmp_path / "elsewhere").exists()


def test_a_cache_left_by_an_older_stagecache_is_adopted(tmp_path: Path) -> None:
    cache = tmp_path / ".stagecache" / "cache"
    for name in ("app", ".app.incoming"):
        (cache / name / "blobs" / "sha256").mkdir(parents=True)
        (cache / name / "blobs" / "sha256" / ("ab" * 32)).write_text("layer")
        (cache / name / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    (cache / ".lock").write_text("")
    check_local_dir(plan_for(tmp_path, "local"))
    (cache / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match=r"holds files stagecache did not create \(notes.txt\)"):
        check_local_dir(plan_for(tmp_path, "local"))


@pytest.mark.parametrize(
    ("files", "layout"),
    [
        ({"index.json": '{"schemaVersion": 2, "manifests": []}', "oci-layout": "{}", "ingest/": ""}, True),
        ({}, True),  # an empty folder: nothing to lose
        ({"index.json": '{"schemaVersion": 2, "manifests": []}', "blobs/notes.txt": "mine"}, False),
        ({"index.json": "my notes", "blobs/sha256/" + "ab" * 32: "x"}, False),
        ({"index.json": "{}"}, False),
        ({"blobs/sha256/short": "x"}, False),
        ({"blobs/sha256/" + "AB" * 32: "x"}, False),
        ({"blobs/md5/" + "ab" * 16: "x"}, False),
        ({"index.json": '{"schemaVersion": 2}', "README": "x"}, False),
    ],
)
def test_only_what_buildkit_writes_counts_as_a_stage_cache(tmp_path: Path, files: dict[str, str], layout: bool) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    for name, text in files.items():
        path = folder / name
        if name.endswith("/"):
            path.mkdir(parents=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert localcache.is_layout(folder) is layout
