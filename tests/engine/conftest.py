"""Helpers for engine tests: a copy of an example wired to the test registry."""

from __future__ import annotations

import hashlib
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from stagecache import config as cfg
from stagecache.bake import bake, run_bake
from stagecache.plan import BuildPlan, make_plan
from stagecache.registry import RegistryClient
from stagecache.report import BakeResult
from stagecache.runner import Runner
from tests.conftest import EXAMPLES, Engine


@dataclass
class Project:
    """An example copied to a temp folder, with its own image repository in the test registry."""

    root: Path
    engine: Engine
    repo: str  # repository path inside the registry, e.g. t1a2b3c4/hello
    runner: Runner

    registry_addr: str = ""

    @property
    def image(self) -> str:
        return f"{self.registry_addr or self.engine.registry}/{self.repo}"

    @property
    def repositories(self) -> tuple[str, str]:
        """Where its images go: the test registry's repository, and the default local one."""
        return (self.image, cfg.default_image(self.root))

    @property
    def registry(self) -> RegistryClient:
        return RegistryClient(self.registry_addr or self.engine.registry)

    def configure(self, mode: str, registry_mode: str = "max", extra: str = "") -> None:
        (self.root / "stagecache.toml").write_text(
            f'[project]\nimage = "{self.image}"\nnetwork = "none"\n'
            f'[cache]\nmode = "{mode}"\nregistry_mode = "{registry_mode}"\n{extra}'
        )

    def plan(self, scope: str = "stages", **overrides: object) -> BuildPlan:
        config = cfg.load(self.root / "stagecache.toml", overrides=cfg.Overrides(**overrides), env={})
        return make_plan(config, scope=scope)

    def bake(self, scope: str = "stages", **overrides: object) -> BakeResult:
        return bake(self.plan(scope, **overrides), self.runner)

    def bake_fails(self, **overrides: object) -> BakeResult:
        """A bake that must fail: its result, whose ``error`` is what stopped it."""
        result = run_bake(self.plan(**overrides), self.runner)
        assert result.error is not None, result
        return result

    def fresh_runner(self) -> None:
        """A new CI machine: BuildKit cache pruned, this project's images removed, base image kept."""
        self.runner.simulate_fresh_runner(self.repositories)

    def append(self, name: str, text: str) -> None:
        with open(self.root / name, "a") as fh:
            fh.write(text + "\n")


class OwnRegistry:
    """A registry a test owns: started, stopped, killed and restarted on the same port and data,
    optionally behind htpasswd basic auth."""

    def __init__(self, root: Path, auth: tuple[str, str] | None = None, delete: bool = True) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        auth_yaml = ""
        if auth is not None:
            import bcrypt

            htpasswd = root / "htpasswd"
            htpasswd.write_text(f"{auth[0]}:{bcrypt.hashpw(auth[1].encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
            auth_yaml = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n"
        self.config = root / "registry.yml"
        self.config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.data}\n  delete:\n    enabled: {str(delete).lower()}\n"
            f"http:\n  addr: {self.addr}\n{auth_yaml}"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> OwnRegistry:
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "registry.log", "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=1)
                return self
            except urllib.error.HTTPError:
                return self  # 401: up, and wants credentials
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"registry on {self.addr} did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)
        self.proc = None


@pytest.fixture
def own_registry(tmp_path: Path):
    """Factory: own_registry(auth=None, delete=True) -> a started OwnRegistry; all are stopped
    afterwards."""
    made: list[OwnRegistry] = []

    def make(auth: tuple[str, str] | None = None, delete: bool = True) -> OwnRegistry:
        reg = OwnRegistry(tmp_path / f"registry{len(made)}", auth, delete).start()
        made.append(reg)
        return reg

    yield make
    for reg in made:
        reg.stop(signal.SIGKILL)


def interrupt_when(proc: subprocess.Popen, ready, timeout: float = 120, settle: float = 1.0) -> tuple[str, str]:
    """Read ``proc``'s stderr until ``ready(lines so far)``, send SIGINT ``settle`` seconds
    later, and return (stdout, all of stderr)."""
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stderr:
        seen.append(line)
        if ready(seen) or time.monotonic() > deadline:
            break
    time.sleep(settle)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    return out, "".join(seen) + err


def tree_digest(path: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``path`` (lock files aside)."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def table(out: str) -> list[str]:
    """The rows of bake's summary table (stages and total), without the lines after it."""
    lines = out.splitlines()[2:]
    end = next(i for i, line in enumerate(lines) if line.startswith("total"))
    return lines[: end + 1]


def hits(result: BakeResult) -> dict[str, dict[int, bool]]:
    """stage -> {step number: cached}."""
    return {s.stage: {st.number: st.cached for st in s.steps} for s in result.stages}


def all_cached(result: BakeResult) -> bool:
    return result.steps > 0 and result.cached == result.steps


def _own_cache_keys(dockerfile: Path, owner: str) -> None:
    """End the Dockerfile's first shell-form RUN (its last line, when it continues over several)
    with a shell comment naming the project, so that the steps from there on have cache keys of
    this project only (the step's number, line and the start of its text are unchanged; a file
    with no such RUN, as examples/diamond-copy, copies files only, whose results are the same
    for every project). Measured on BuildKit 0.13.1 (dockerd 26.1.5, 2026-11-29): on an engine
    that had built the same steps for other projects, pruning the build cache did not make it a
    new runner: after a fresh-runner simulation, steps whose own imported cache held them
    missed (the diamond in test_bake.py, in every cache mode, once the suite had run on that
    engine), and passed on a new data root or with this comment."""
    lines = dockerfile.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if line.startswith("RUN ") and not line.startswith(("RUN [", "RUN <<")) and "<<" not in line:
            end = i
            while lines[end].rstrip().endswith("\\") and end + 1 < len(lines):
                end += 1
            lines[end] = f"{lines[end].rstrip()}  # {owner}"
            dockerfile.write_text("\n".join(lines), encoding="utf-8")
            return


@pytest.fixture
def make_project(engine: Engine, tmp_path: Path):
    """Factory: make_project("hello") copies examples/hello into a fresh folder."""
    runner = Runner()
    made: list[Project] = []

    def make(example: str, sleeps: bool = False) -> Project:
        owner = f"t{uuid.uuid4().hex[:8]}"
        # The folder names the default image (stagecache/FOLDER): unique, so that a test never
        # touches the images a developer built from the example itself.
        root = tmp_path / f"{owner}-{example}"
        shutil.copytree(EXAMPLES / example, root, ignore=shutil.ignore_patterns(".stagecache"))
        dockerfile = root / "Dockerfile"
        # The examples' `sleep N &&` make a rebuild visible in the demo and the benchmarks; the
        # tests read hits from BuildKit's progress, not from time, and would pay the sleeps in
        # nearly every test's first bake. ``sleeps=True`` keeps them (a bench whose figures
        # are compared with the time of real steps).
        if not sleeps:
            dockerfile.write_text(re.sub(r"sleep \d+ && ", "", dockerfile.read_text()))
        _own_cache_keys(dockerfile, owner)
        project = Project(root=root, engine=engine, repo=f"{owner}/{example}", runner=runner)
        made.append(project)
        return project

    yield make
    for p in made:
        p.runner.remove_repositories(p.repositories)


__all__ = ["OwnRegistry", "Project", "hits", "all_cached", "interrupt_when", "replace", "table", "tree_digest"]
