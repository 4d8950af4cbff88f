"""Failures named by their real cause, on the engine: an image that cannot be pulled is a
build error (exit 1) naming it, not a registry error; doctor fails on it; the legacy builder's
empty-layer failure on the containerd image store keeps its text and says what to do."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from tests.conftest import Engine

STAGECACHE = str(Path(sys.executable).parent / "stagecache")


def project(tmp_path: Path, dockerfile: str, toml: str = '[cache]\nmode = "local"\n') -> Path:
    root = tmp_path / f"p{uuid.uuid4().hex[:8]}"
    root.mkdir()
    (root / "Dockerfile").write_text(dockerfile)
    (root / ".dockerignore").write_text(".stagecache/\n")
    (root / "stagecache.toml").write_text('[project]\nnetwork = "none"\n' + toml)
    return root


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STAGECACHE, *argv], capture_output=True, text=True, timeout=300)


def test_a_base_image_that_does_not_exist_is_a_build_error_naming_it(engine: Engine, tmp_path: Path) -> None:
    missing = f"{engine.registry}/nope/{uuid.uuid4().hex[:8]}:1"
    root = project(tmp_path, f"FROM {missing} AS app\nRUN true\n")
    done = cli("bake", "-C", str(root), "--progress", "plain")
    assert done.returncode == 1, done.stderr
    error = done.stderr.strip().splitlines()
    first = next(line for line in error if line.startswith("Error: "))
    assert first == (
        f"Error: stage 'app': the image {missing} could not be pulled (builder exit 1). The registry has no such image "
        "or tag: fix the name or tag, or push the image there first."
    )
    assert "registry operation failed" not in done.stderr and ".stagecache" not in first
    doctor = cli("doctor", "-C", str(root))
    assert doctor.returncode == 3
    assert (
        "FAIL  base images" in doctor.stdout
        and f"{missing} is not on this engine and cannot be pulled" in doctor.stdout
    )


def test_a_misspelt_stage_in_copy_from_says_did_you_mean(engine: Engine, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    root = project(
        tmp_path,
        f"FROM {engine.base_image} AS compile-image\nRUN echo {tag} > /a\n"
        f"FROM {engine.base_image} AS app\nCOPY --from=compile-imag /a /a\n",
    )
    plan = cli("plan", "-C", str(root))
    assert "Did you mean stage 'compile-image'?" in plan.stdout + plan.stderr
    done = cli("bake", "-C", str(root), "--progress", "plain")
    assert done.returncode == 1, done.stderr
    assert (
        "Error: stage 'app': the image docker.io/library/compile-imag:latest could not be pulled (builder exit 1). "
        "BuildKit pulls any --from or FROM that names no stage: did you mean stage 'compile-image'?"
    ) in done.stderr


def test_classic_on_the_containerd_store_explains_the_empty_layer_failure(engine: Engine, tmp_path: Path) -> None:
    image = f"{engine.registry}/t{uuid.uuid4().hex[:8]}/legacy"
    tag = uuid.uuid4().hex
    root = project(tmp_path, f"FROM {engine.base_image} AS app\nWORKDIR /root\nRUN echo {tag} > /f\n")
    (root / "stagecache.toml").write_text(
        f'[project]\nnetwork = "none"\nimage = "{image}"\n[cache]\nmode = "classic"\n'
    )
    try:
        first = cli("bake", "-C", str(root), "--progress", "plain")
        assert first.returncode == 0, first.stderr
        # A fresh runner: the stage image is pulled, and its cached WORKDIR layer is empty.
        subprocess.run(["docker", "image", "rm", "-f", f"{image}:app"], capture_output=True, check=True)
        subprocess.run(["docker", "buildx", "prune", "-af"], capture_output=True, check=True)
        done = cli("bake", "-C", str(root), "--progress", "plain")
        assert done.returncode == 3, done.stderr
        assert "step 2 (WORKDIR /root) failed" in done.stderr
        assert "cannot reuse a cached step whose layer is empty" in done.stderr
        assert 'failed to read diff archive: "" failed validation: invalid argument' in done.stderr
        doctor = cli("doctor", "-C", str(root))
        assert "WARN  legacy builder" in doctor.stdout
    finally:
        subprocess.run(["docker", "image", "rm", "-f", f"{image}:app"], capture_output=True)
