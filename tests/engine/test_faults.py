"""Faults on purpose, against the real engine and registries the tests start, stop,
kill and lock with htpasswd. Every test asserts the exit code, the key words of the
message, and the state left behind (registry contents, cache directory, outputs)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from stagecache.registry import RegistryClient
from tests.conftest import docker_config
from tests.engine.conftest import OwnRegistry, Project, all_cached, table, tree_digest

STAGECACHE = str(Path(sys.executable).parent / "stagecache")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [STAGECACHE, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600
    )


def on_registry(p: Project, reg: OwnRegistry, mode: str = "registry", extra: str = "") -> None:
    p.registry_addr = reg.addr
    p.configure(mode, "max", extra)


def test_registry_down_before_the_build_builds_from_scratch_and_says_so(make_project, own_registry) -> None:
    p: Project = make_project("hello")
    reg = own_registry()
    on_registry(p, reg)
    reg.stop()
    p.fresh_runner()
    report = p.root / "report.json"
    done = cli("bake", "-C", str(p.root), "--no-push", "--progress", "plain", "--report", str(report))
    # BuildKit exits 0 when it cannot import a cache, and with ignore-error=true when it cannot export one.
    assert done.returncode == 0, done.stderr
    assert (
        f"warning: cache import failed 3 times (stages compile-image, runtime-image); each like this one: {reg.addr}/"
        in done.stdout
    )
    assert (
        "warning: cache export failed 2 times (stages compile-image, runtime-image); the next run will not have "
        "these caches; each like this one: " in done.stdout
    )
    data = json.loads(report.read_text())
    assert data["status"] == "success" and data["steps_cached"] == 0
    # With --report, the engine's versions are fetched alongside the builds and recorded.
    assert data["engine"]["docker"] and data["engine"]["driver"] == "docker"
    assert data["engine"]["containerd_store"] == "true" and data["engine"]["buildx"]
    states = {c["state"] for s in data["stages"] for c in s["cache_sources"]}
    assert states == {"failed"}
    assert all(s["pushed"] == [] for s in data["stages"])
    # Why each stage missed: its cache could not be imported, with what BuildKit said.
    misses = {s["stage"]: s["first_miss"] for s in data["stages"]}
    for stage, miss in misses.items():
        assert miss["cause"] == "no-cache" and miss["detail"].startswith("its cache could not be imported: "), miss
        assert f"{reg.addr}/{p.repo}:cache-{stage}" in miss["detail"], miss

    # on_export_error = "fail": the same outage is exit 5, naming the cache ref.
    on_registry(p, reg, extra='on_export_error = "fail"\n')
    failed = cli("bake", "-C", str(p.root), "--no-push", "--progress", "plain")
    assert failed.returncode == 5, failed.stderr
    assert "Error: stage 'compile-image': the build ran but a registry operation failed" in failed.stderr
    assert f"{reg.addr}/{p.repo}:cache-compile-image" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_registry_killed_mid_bake_exits_5_and_the_previous_tags_and_caches_survive(make_project, own_registry):
    p: Project = make_project("hello")
    reg = own_registry()
    # Per-stage builds: the registry dies while the last stage's own build runs.
    on_registry(p, reg, extra="[build]\nfast_path = false\n")
    assert p.bake().status == "success"
    client = RegistryClient(reg.addr)
    before = {tag: client.manifest(p.repo, tag)["_digest"] for tag in client.tags(p.repo)}
    assert sorted(before) == [
        "cache-compile-image",
        "cache-compile-image.inputs",
        "cache-runtime-image",
        "cache-runtime-image.inputs",
        "compile-image",
        "runtime-image",
    ]

    # A change in the last stage, with a step slow enough to kill the registry during it.
    dockerfile = p.root / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace("COPY motd.txt /etc/motd", "COPY motd.txt /etc/motd\nRUN sleep 3")
    )
    proc = subprocess.Popen(
        [STAGECACHE, "bake", "-C", str(p.root), "--progress", "plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    err_lines = []
    for line in proc.stderr:
        err_lines.append(line)
        if "RUN sleep 3" in line:
            break
    reg.stop()
    out, rest = proc.communicate(timeout=300)
    err = "".join(err_lines) + rest
    assert proc.returncode == 5, err
    assert "Error: stage 'runtime-image': the build ran but a registry operation failed" in err
    assert f"{reg.addr}/{p.repo}:runtime-image" in err
    rows = {line.split()[0]: line for line in table(out)}
    assert rows["compile-image"].rstrip().endswith(f"{reg.addr}/{p.repo}:compile-image")
    assert rows["runtime-image"].rstrip().endswith("failed")

    # Restarted on the same data: every tag and cache ref still resolves. The failed stage's tag and
    # cache ref point where they did; compile-image built and was pushed again, so its tag may move.
    reg.start()
    after = {tag: client.manifest(p.repo, tag)["_digest"] for tag in client.tags(p.repo)}
    assert sorted(after) == sorted(before)
    assert after["runtime-image"] == before["runtime-image"]
    assert after["cache-runtime-image"] == before["cache-runtime-image"]


def test_registry_with_authentication(make_project, own_registry, tmp_path: Path) -> None:
    p: Project = make_project("hello")
    reg = own_registry(auth=("ci", "right-pass-7f3a"))
    on_registry(p, reg)

    def config(name: str, password: str | None) -> dict[str, str]:
        auths = {}
        if password is not None:
            auths[reg.addr] = {"auth": base64.b64encode(f"ci:{password}".encode()).decode()}
        return docker_config(tmp_path / name, auths=auths)

    none, wrong, right = (
        config("none", None),
        config("wrong", "wrong-pass-91bd"),
        config("right", "right-pass-7f3a"),
    )

    doctor = cli("doctor", "-C", str(p.root), env=none)
    assert doctor.returncode == 3
    assert f"FAIL  registry      {reg.addr}/{p.repo}: unauthorized: no credentials" in doctor.stdout

    for env, secret in ((none, None), (wrong, "wrong-pass-91bd")):
        done = cli("bake", "-C", str(p.root), "--progress", "plain", env=env)
        assert done.returncode == 5, done.stderr
        assert "registry operation failed" in done.stderr and reg.addr in done.stderr
        if secret:
            for text in (done.stdout, done.stderr):
                assert secret not in text
                assert base64.b64encode(f"ci:{secret}".encode()).decode() not in text
    assert RegistryClient(reg.addr, credentials=("ci", "right-pass-7f3a")).tags(p.repo) == []

    doctor = cli("doctor", "-C", str(p.root), env=right)
    assert doctor.returncode == 0, doctor.stdout
    assert "push allowed (credentials of user 'ci'; checked without pushing)" in doctor.stdout
    done = cli("bake", "-C", str(p.root), "--progress", "plain", env=right)
    assert done.returncode == 0, done.stderr
    assert "right-pass-7f3a" not in done.stdout + done.stderr
    assert (
        len(RegistryClient(reg.addr, credentials=("ci", "right-pass-7f3a")).tags(p.repo)) == 6
    )  # 2 images, 2 caches, 2 records


def test_two_bakes_at_once_on_one_local_cache_are_serialised(make_project) -> None:
    p: Project = make_project("hello")
    p.configure("local")
    procs = [
        subprocess.Popen(
            [STAGECACHE, "bake", "-C", str(p.root), "--progress", "plain"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], results
    assert any("waiting for another stagecache bake that uses" in err for _, err in results)
    cache = p.root / ".stagecache" / "cache"
    assert sorted(x.name for x in cache.iterdir()) == [".lock", "CACHEDIR.TAG", "compile-image", "runtime-image"]
    p.fresh_runner()
    assert all_cached(p.bake())


def test_a_stage_failing_mid_graph_stops_the_bake_and_moves_no_tag(make_project) -> None:
    p: Project = make_project("diamond")
    p.configure("registry", "min")
    assert p.bake().status == "success"
    app_digest = p.registry.manifest(p.repo, "app")["_digest"]
    dockerfile = p.root / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace("COPY app.sh .\n", "COPY app.sh .\nRUN echo boom >&2 && false\n")
    )
    p.append("a.txt", "changed")  # deps-a rebuilds and is pushed before app fails
    done = cli("bake", "-C", str(p.root), "--progress", "plain")
    assert done.returncode == 1, done.stderr
    assert "Error: stage 'app', step 5 (RUN echo boom >&2 && false) failed (builder exit 1):" in done.stderr
    assert "| boom" in done.stderr
    status = {line.split()[0]: line.split()[-1] for line in table(done.stdout)[:-1]}
    assert status["app"] == "failed" and status["runtime"] == "skipped"
    assert status["deps-a"] == f"{p.image}:deps-a"
    # The failed stage's tag still points where it did; the stage after it was never built.
    assert p.registry.manifest(p.repo, "app")["_digest"] == app_digest


def test_secret_looking_build_arg_value_appears_in_no_output(make_project, tmp_path: Path) -> None:
    p: Project = make_project("hello")
    value = "tok-8c1e5f-do-not-print"
    p.configure("local", extra=f'[build.args]\nAPI_TOKEN = "{value}"\n')
    dockerfile = p.root / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace("COPY hello.c .\n", 'ARG API_TOKEN\nCOPY hello.c .\nRUN test -z "$API_TOKEN"\n')
    )
    summary = tmp_path / "summary.md"
    report = tmp_path / "report.json"
    plan_text = cli("plan", "-C", str(p.root))
    plan_json = cli("plan", "-C", str(p.root), "--json")
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    done = cli("bake", "-C", str(p.root), "-v", "--progress", "plain", "--report", str(report), env=env)
    assert plan_text.returncode == 0 and plan_json.returncode == 0
    assert done.returncode == 1, done.stderr
    assert "build arg 'API_TOKEN' looks like a secret" in done.stderr
    assert "API_TOKEN=***" in plan_text.stdout
    outputs = [plan_text.stdout, plan_text.stderr, plan_json.stdout, done.stdout, done.stderr]
    outputs += [report.read_text(), summary.read_text()]
    for text in outputs:
        assert value not in text


def test_docker_missing_or_daemon_down_is_exit_3_naming_the_fix(make_project, tmp_path: Path) -> None:
    p: Project = make_project("hello")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(sys.executable)
    done = cli("bake", "-C", str(p.root), env={"PATH": str(bindir)})
    assert done.returncode == 3
    assert done.stderr == (
        "Error: the docker CLI was not found on PATH. Install Docker with the buildx plugin, or add the folder that "
        "holds `docker` to PATH.\n"
    )
    # The engine is not checked before building (that would cost a cached bake 0.6 s): the
    # first build fails, and the check that follows names the cause.
    down = cli("bake", "-C", str(p.root), "--progress", "plain", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert down.returncode == 3
    lines = down.stderr.splitlines()
    assert lines[0].startswith("note: the local cache is in ")
    # The first docker command (the fast path's question: does the engine hold the project's
    # images? Without a stagecache.toml the image is stagecache/FOLDER) finds the daemon down,
    # before any build starts.
    assert lines[-1].startswith(
        f"Error: could not list the images of stagecache/{p.root.name}: the Docker daemon is not reachable "
        "(Cannot connect to the Docker daemon at "
    )
    assert lines[-1].endswith(
        "Start Docker (for example `sudo systemctl start docker`), or point DOCKER_HOST (or `docker context use`) "
        "at a running engine, or set [project].builder to a builder that reaches one; then try again."
    )
    assert "scripts/engine.sh" not in down.stderr and "Traceback" not in down.stderr
    assert down.stdout == ""  # no summary table: nothing was built
    # Only the (empty) cache directory, tagged as stagecache's, with its lock file, which is
    # never deleted (deleting it is what let two bakes hold the lock at once).
    assert sorted(x.name for x in (p.root / ".stagecache" / "cache").iterdir()) == [".lock", "CACHEDIR.TAG"]


def test_first_run_ever_is_a_cold_build_not_an_error(make_project) -> None:
    p: Project = make_project("hello")
    before = tree_digest(p.root)
    p.fresh_runner()
    done = cli("bake", "-C", str(p.root), "--progress", "plain")
    assert done.returncode == 0, done.stderr
    assert "cold build: no step came from cache (first run, or no cache was found to import)." in done.stdout
    assert "cache import failed" not in done.stdout + done.stderr
    assert {k: v for k, v in tree_digest(p.root).items() if not k.startswith(".stagecache")} == before


def test_a_successful_bake_asks_the_engine_nothing_before_building(make_project) -> None:
    """The engine check runs only to explain a failure: a successful bake never imports
    python-on-whales nor pydantic; before building it asks the engine one question (whether
    it holds the project's images, for the fast path), with the standard library."""
    p: Project = make_project("hello")
    probe = (
        "import sys\n"
        "from stagecache.cli import main\n"
        f"sys.argv = ['stagecache', 'bake', '-C', {str(p.root)!r}, '--progress', 'plain']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('python_on_whales', 'pydantic')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    assert "compile-image" in done.stdout


@pytest.fixture
def classic_store_daemon(tmp_path: Path):
    """A second dockerd on its own socket, without the containerd image store: the docker
    driver then cannot export registry or local cache."""
    if os.geteuid() != 0:
        pytest.fail("starting a second dockerd needs root (CI runs as root)")
    # Short paths: unix socket paths are limited to about 100 bytes.
    root = Path(tempfile.mkdtemp(prefix="sc-d2-", dir="/tmp"))
    (root / "daemon.json").write_text('{"bridge": "none", "iptables": false, "ip6tables": false}')
    sock = root / "docker.sock"
    proc = subprocess.Popen(
        ["dockerd", "--config-file", str(root / "daemon.json"), "--data-root", str(root / "data"),
         "--exec-root", str(root / "exec"), "--pidfile", str(root / "docker.pid"), "-H", f"unix://{sock}"],
        stdout=subprocess.DEVNULL,
        stderr=open(root / "dockerd.log", "wb"),  # noqa: SIM115
        start_new_session=True,
    )  # fmt: skip
    env = {"DOCKER_HOST": f"unix://{sock}"}
    deadline = time.monotonic() + 60
    while subprocess.run(["docker", "info"], capture_output=True, env={**os.environ, **env}).returncode != 0:
        assert time.monotonic() < deadline, (root / "dockerd.log").read_text()[-2000:]
        time.sleep(0.3)
    yield env
    proc.terminate()
    proc.wait(timeout=60)
    shutil.rmtree(root, ignore_errors=True)


def test_docker_driver_without_containerd_store_cannot_export_cache(make_project, classic_store_daemon) -> None:
    p: Project = make_project("hello")
    p.configure("local")
    done = cli("bake", "-C", str(p.root), env=classic_store_daemon)
    assert done.returncode == 3, done.stderr
    # The first build fails (this daemon has no base image and no registry to pull it from; a
    # per-stage build would have failed on buildx's "Cache export is not supported" first), and
    # the engine check after the failure names the cause and both fixes.
    error = done.stderr.splitlines()[-1]
    assert error.startswith(
        "Error: cache mode 'local' needs a builder that can export cache, but builder 'default' uses the docker "
        "driver without the containerd image store. Fix it one of two ways: turn on the containerd image store"
    )
    assert "docker buildx create --name stagecache --driver docker-container" in error
    # No cache was written: the cache directory holds only its tag and lock file.
    assert sorted(x.name for x in (p.root / ".stagecache" / "cache").iterdir()) == [".lock", "CACHEDIR.TAG"]
    doctor = cli("doctor", "-C", str(p.root), "-m", "registry", env=classic_store_daemon)
    assert doctor.returncode == 3
    assert "driver docker without the containerd image store; can export cache: inline" in doctor.stdout
    assert "FAIL  cache export" in doctor.stdout
    inline = cli("doctor", "-C", str(p.root), "-m", "inline", env=classic_store_daemon)
    assert "PASS  cache export  builder can export what mode 'inline' needs" in inline.stdout
