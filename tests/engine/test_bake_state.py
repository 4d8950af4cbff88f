"""What bake leaves behind: registry contents, pushes, the local cache after a failure,
mode switches, and the planned argv run for real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stagecache.errors import BuildFailed
from tests.conftest import ROOT
from tests.engine.conftest import Project, all_cached, tree_digest


def test_registry_mode_pushes_stage_images_and_cache_refs(make_project) -> None:
    p: Project = make_project("hello")
    p.configure("registry", "max")
    result = p.bake()
    assert p.registry.tags(p.repo) == [
        "cache-compile-image",
        "cache-compile-image.inputs",  # the record of the inputs beside each cache (stagecache.inputstore)
        "cache-runtime-image",
        "cache-runtime-image.inputs",
        "compile-image",
        "runtime-image",
    ]
    for tag in ("cache-compile-image", "compile-image"):
        assert p.registry.manifest(p.repo, tag) is not None
    assert [s.pushed for s in result.stages] == [(f"{p.image}:compile-image",), (f"{p.image}:runtime-image",)]


def test_no_push_pushes_no_image(make_project) -> None:
    p: Project = make_project("hello")
    p.configure("inline")
    result = p.bake(push=False)
    assert p.registry.tags(p.repo) == []
    assert all(s.pushed == () for s in result.stages)
    p.configure("registry")
    p.bake(push=False)
    # Cache refs are exported (that is the cache), stage images are not pushed.
    assert p.registry.tags(p.repo) == [
        "cache-compile-image",
        "cache-compile-image.inputs",
        "cache-runtime-image",
        "cache-runtime-image.inputs",
    ]


def test_local_cache_is_unchanged_after_a_failed_build(make_project) -> None:
    p: Project = make_project("hello")
    p.configure("local")
    p.bake()
    cache = p.root / ".stagecache" / "cache"
    before = tree_digest(cache)
    assert any(k.startswith("compile-image/") for k in before)
    dockerfile = p.root / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace("COPY hello.c .", "COPY hello.c .\nRUN echo 'cc: fatal error' >&2 && exit 7")
    )
    result = p.bake_fails()
    error = result.error
    assert isinstance(error, BuildFailed)
    assert "stage 'compile-image', step 5" in error.message
    assert "exit code: 7" in error.message
    assert "cc: fatal error" in error.message
    assert tree_digest(cache) == before
    assert sorted(x.name for x in cache.iterdir()) == [".lock", "CACHEDIR.TAG", "compile-image", "runtime-image"]
    assert [(s.stage, s.status) for s in result.stages] == [
        ("compile-image", "failed"),
        ("runtime-image", "skipped"),
    ]


def test_switching_the_mode_in_the_toml_changes_argv_and_result(make_project) -> None:
    p: Project = make_project("hello")
    p.configure("local")
    assert "type=local,src=" in " ".join(p.plan().builds[0].build.argv)
    p.bake()
    assert p.registry.tags(p.repo) == []
    p.configure("registry", "min")
    argv = " ".join(p.plan().builds[0].build.argv)
    assert f"type=registry,ref={p.image}:cache-compile-image,mode=min" in argv and "type=local" not in argv
    p.bake()
    assert "cache-compile-image" in p.registry.tags(p.repo)
    p.fresh_runner()
    assert all_cached(p.bake())


def test_planned_command_runs_as_is(make_project) -> None:
    """`stagecache plan --json` on the bundled example: its first argv, run verbatim, succeeds."""
    p: Project = make_project("hello")
    out = subprocess.run(
        [sys.executable, "-m", "stagecache", "plan", "--json", "-C", str(p.root)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    plan = json.loads(out)
    assert plan["schema"] == "stagecache.plan/v1"
    argv = plan["builds"][0]["argv"]
    assert argv[:3] == ["docker", "buildx", "build"]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (p.root / ".stagecache" / "cache" / ".compile-image.incoming" / "index.json").is_file()


def test_cli_bake_on_the_example_writes_a_report(make_project, tmp_path: Path) -> None:
    p: Project = make_project("hello")
    report = tmp_path / "report.json"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "stagecache"), "bake", "-C", str(p.root), "--report", str(report)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["stage", "steps", "cached", "hit", "seconds", "image"]
    data = json.loads(report.read_text())
    assert data["schema"] == "stagecache.report/v1" and data["status"] == "success"
    assert [s["stage"] for s in data["stages"]] == ["compile-image", "runtime-image"]
    step = data["stages"][0]["steps"][1]
    assert (step["number"], step["line"], step["instruction"][:14]) == (3, 10, "RUN mkdir -p /")
    # The fast path: the target first, then each stage (its cache folder is new) to export it.
    assert "==> [1/1] runtime-image (cache local, importing every stage's cache)" in done.stderr
    assert "==> [1/2] compile-image (cache local; its own build, to export what the first one built)" in done.stderr


@pytest.mark.parametrize(("signame", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_stops_the_build_and_keeps_the_local_cache(make_project, signame: str, code: int) -> None:
    import signal
    import time

    p: Project = make_project("hello")
    p.configure("local")
    p.bake()
    cache = p.root / ".stagecache" / "cache"
    before = tree_digest(cache)
    p.append("hello.c", "/* edit */")
    dockerfile = p.root / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("COPY hello.c .", "COPY hello.c .\nRUN sleep 30"))
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "stagecache"), "bake", "-C", str(p.root), "--progress", "plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    # The fast path's first build runs `RUN sleep 30`; wait until its buildx process runs.
    while time.monotonic() < deadline:
        running = subprocess.run(["pgrep", "-f", f"buildx build.*{p.root}"], capture_output=True, text=True)
        if running.stdout.strip():
            break
        time.sleep(0.2)
    time.sleep(1.5)  # inside `RUN sleep 30` by now
    proc.send_signal(getattr(signal, signame))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert f"Error: interrupted by {signame}; the running build was stopped" in err
    assert tree_digest(cache) == before
    assert not list(cache.glob(".*.incoming"))
    leftover = subprocess.run(["pgrep", "-f", f"buildx build.*{p.root}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout
