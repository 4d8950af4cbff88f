"""The one boundary to docker, and the one boundary to the user: every docker failure becomes a
domain error that says what stagecache was doing (never the argv), and no command ends in a
traceback, whatever breaks under it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stagecache import config as cfg
from stagecache import localcache
from stagecache.cli import INTERNAL_ERROR, app
from stagecache.errors import EnvironmentProblem, RegistryError
from stagecache.plan import make_plan
from stagecache.preflight import EngineFacts
from stagecache.runner import Runner, _domain_error

STAGECACHE = str(Path(sys.executable).parent / "stagecache")
cli = CliRunner()


def stub_docker(tmp_path: Path, script: str) -> dict[str, str]:
    """An environment whose `docker` is ``script`` (sh), first on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    docker = bindir / "docker"
    docker.write_text("#!/bin/sh\n" + textwrap.dedent(script))
    docker.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}


DAEMON_DOWN = """\
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
exit 1
"""


def test_a_docker_failure_names_the_purpose_never_the_argv(tmp_path: Path) -> None:
    env = stub_docker(tmp_path, DAEMON_DOWN)
    runner = Runner(env=env)
    old = os.environ["PATH"]
    os.environ["PATH"] = env["PATH"]  # python-on-whales finds docker on the process PATH
    try:
        with pytest.raises(EnvironmentProblem) as info:
            runner.local_tags("registry.example.com/app")
        assert info.value.message.startswith(
            "could not list the images of registry.example.com/app: the Docker daemon is not reachable (Cannot "
            "connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?)."
        )
        assert "image ls" not in info.value.message and "--format" not in info.value.message
        # Deleting images when the daemon is down is an error, not "already gone".
        with pytest.raises(EnvironmentProblem, match="could not remove the image a:b: the Docker daemon"):
            runner.remove_images(["a:b"])
        with pytest.raises(EnvironmentProblem, match="could not prune the build cache"):
            runner.prune_build_cache()
    finally:
        os.environ["PATH"] = old


def test_a_missing_image_is_skipped_and_a_refused_registry_is_a_registry_error(tmp_path: Path) -> None:
    env = stub_docker(
        tmp_path,
        """\
        case "$*" in
          *"image rm"*) echo "Error response from daemon: No such image: gone:1" >&2; exit 1 ;;
          *pull*) echo "Error response from daemon: pull access denied for x, repository does not exist" >&2; exit 1 ;;
        esac
        exit 0
        """,
    )
    old = os.environ["PATH"]
    os.environ["PATH"] = env["PATH"]
    try:
        runner = Runner(env=env)
        runner.remove_images(["gone:1"])  # already gone: nothing to do
        assert runner.pull("x").startswith("could not pull x: the registry refused")
    finally:
        os.environ["PATH"] = old
    assert isinstance(_domain_error("push x", "denied: requested access to the resource is denied"), RegistryError)
    # The docker CLI's words for a user outside the docker group: an engine problem, not a registry's.
    socket = (
        "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: "
        'Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.45/images/json": dial unix /var/run/docker.sock: connect: '
        "permission denied"
    )
    error = _domain_error("list the images of x", socket)
    assert isinstance(error, EnvironmentProblem) and error.exit_code == 3
    assert "Add the user to the `docker` group" in error.message


def test_export_bake_to_a_path_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM alpine AS a\nRUN true\n")
    (tmp_path / ".dockerignore").write_text(".stagecache\n")  # the cache in the project: no warning
    result = cli.invoke(app, ["export-bake", "-C", str(tmp_path), "/proc/nope/x.json"])
    assert result.exit_code == 2
    assert result.output == (
        "Error: cannot write /proc/nope/x.json: No such file or directory. Choose a path in a folder you can "
        "write to.\n"
    )


def test_a_bug_is_one_line_and_exit_70_without_the_exception_text(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "Dockerfile").write_text("FROM alpine AS a\nRUN true\n")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("--build-arg TOKEN=hunter2")

    monkeypatch.setattr("stagecache.plan.make_plan", broken)
    monkeypatch.delenv("STAGECACHE_DEBUG", raising=False)
    result = cli.invoke(app, ["plan", "-C", str(tmp_path)])
    assert result.exit_code == INTERNAL_ERROR
    assert result.output == (
        "Error: internal error (RuntimeError). This is a bug in stagecache: run again with STAGECACHE_DEBUG=1 "
        "for the traceback, and report it.\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["bake", "--progress", "plain"],
        ["bake", "--execution", "bake", "--progress", "plain"],
        ["doctor"],
        ["bench", "--strategy", "local", "--scenario", "warm", "--progress", "plain"],
    ],
    ids=lambda a: " ".join(a[:3]),
)
@pytest.mark.parametrize("docker", ["daemon-down", "garbage", "killed"])
def test_no_command_ends_in_a_traceback_whatever_docker_does(tmp_path: Path, argv: list[str], docker: str) -> None:
    scripts = {
        "daemon-down": DAEMON_DOWN,
        "garbage": 'echo "{not json" ; echo "panic: runtime error" >&2 ; exit 2\n',
        "killed": "kill -9 $$\n",
    }
    env = stub_docker(tmp_path, scripts[docker])
    project = tmp_path / "p"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM alpine AS a\nRUN true\nFROM a AS b\nRUN true\n")
    (project / ".dockerignore").write_text(".stagecache/\n")
    (project / "stagecache.toml").write_text('[project]\nnetwork = "none"\n[cache]\nmode = "local"\n')
    done = subprocess.run(
        [STAGECACHE, *argv[:1], "-C", str(project), *argv[1:]], capture_output=True, text=True, env=env, timeout=120
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    if argv[0] == "doctor":  # findings on stdout, exit 3
        assert done.returncode == 3 and "\nFAIL  " in "\n" + done.stdout, done.stdout
        return
    assert done.returncode in (1, 3, 5), (done.returncode, done.stderr)
    assert done.stderr.strip().splitlines()[-1].startswith("Error: "), done.stderr


def test_engine_facts_that_cannot_be_read_become_a_warning(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM alpine AS a\nRUN true\n")
    (tmp_path / "stagecache.toml").write_text("")
    plan = make_plan(cfg.load(tmp_path / "stagecache.toml", env={}))

    class Broken(Runner):
        def builder_info(self, builder: str = ""):  # type: ignore[override]
            raise ValueError("unexpected")

    facts = EngineFacts(plan, Broken(env={}))
    assert facts.get() == {}
    assert facts.problem == "could not read the engine's versions for the report (ValueError: unexpected)"


def test_blobs_that_cannot_be_linked_are_said_not_dropped(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "cache" / "base"
    (source / "blobs" / "sha256").mkdir(parents=True)
    (source / "blobs" / "sha256" / "abc").write_text("x")

    def cross_device(*_: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(localcache.os, "link", cross_device)
    warning = localcache.seed(tmp_path / "cache" / ".app.incoming", [source])
    assert warning == (
        f"could not hard-link the cached blobs of {source} into {tmp_path / 'cache' / '.app.incoming'} (Invalid "
        "cross-device link): this stage's cache export writes them again, which is slower and takes more disk."
    )
