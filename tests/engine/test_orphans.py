"""No build outlives stagecache: SIGKILL (nothing can be handled) and SIGHUP (a closed
terminal, a CI runner that stops a job) sent to a real bake leave no `docker` or
`docker-buildx` process of it running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import Engine

STAGECACHE = str(Path(sys.executable).parent / "stagecache")


def builds_of(marker: str) -> list[str]:
    """The docker client processes (docker, docker-buildx) whose argv names ``marker``."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line and ("docker " in line or "docker-buildx" in line)]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGHUP])
def test_a_killed_bake_leaves_no_build_running(engine: Engine, tmp_path: Path, signum: int) -> None:
    marker = f"orphan-{uuid.uuid4().hex[:8]}"
    root = tmp_path / marker
    root.mkdir()
    (root / "Dockerfile").write_text(f"FROM {engine.base_image} AS slow\nRUN sleep 60 && echo {marker}\n")
    (root / "stagecache.toml").write_text('[project]\nnetwork = "none"\n[cache]\nmode = "none"\n')
    proc = subprocess.Popen(
        [STAGECACHE, "bake", "-C", str(root), "--progress", "plain"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own group, as a CI job's shell would start it
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not builds_of(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert builds_of(marker), "the build never started"
        time.sleep(1.0)  # the RUN step is running
        os.kill(proc.pid, signum)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while builds_of(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert builds_of(marker) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for line in builds_of(marker):
            os.kill(int(line.split()[0]), signal.SIGKILL)
