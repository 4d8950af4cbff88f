"""A second engine, reached through a docker context: the engine script's classic-store dockerd
(context stagecache-classic). A bake through DOCKER_CONTEXT runs every docker command there
(nothing is built on, or loaded into, the default engine) and its report names that engine;
the bench runs the classic strategies there, where the legacy builder takes an empty cached
layer from cache, as its users see it; doctor names the engine and its image store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Engine
from tests.engine.conftest import Project

STAGECACHE = str(Path(sys.executable).parent / "stagecache")

# One classic engine serves every test worker: its tests run on one worker, one at a time
# (the bench among them prunes its builder's cache).
pytestmark = pytest.mark.xdist_group("classic-engine")

# WORKDIR to a folder that exists makes a step with an empty layer: the legacy builder on the
# containerd image store fails to restore it from cache (ENGINE.md), on the classic store not.
EMPTY_LAYER = """\
FROM {base} AS build
WORKDIR /root
RUN echo built {owner} > /root/out
FROM {base} AS final
WORKDIR /root
COPY --from=build /root/out /out
"""


@pytest.fixture
def classic(engine: Engine, request: pytest.FixtureRequest) -> str:
    """The second engine's context; a failure under CI, where the engine script starts it."""
    if not engine.classic_context:
        problem = "no classic-store engine (scripts/engine.sh up starts one when it starts dockerd)"
        if os.environ.get("CI") == "true" or request.config.getoption("--no-runtime-skip"):
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)
    return engine.classic_context


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STAGECACHE, *args], capture_output=True, text=True, env={**os.environ, **(env or {})})


def cache_records(context: str, marker: str) -> int:
    """How many build-cache records of an engine's builder name ``marker`` (in a step's text)."""
    du = subprocess.run(
        ["docker", "--context", context, "buildx", "du", "--verbose"], capture_output=True, text=True, check=True
    )
    return du.stdout.count(marker)


def images(context: str, repository: str) -> list[str]:
    out = subprocess.run(
        ["docker", "--context", context, "image", "ls", "--format", "{{.Tag}}", repository],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(out.stdout.split())


def test_a_bake_through_docker_context_runs_on_that_engine_only(
    make_project, engine: Engine, classic: str, tmp_path: Path
) -> None:
    p: Project = make_project("hello")
    p.configure("inline")
    owner = p.repo.split("/")[0]
    report = tmp_path / "report.json"
    done = run(
        "bake", "-C", str(p.root), "--progress", "plain", "--report", str(report), env={"DOCKER_CONTEXT": classic}
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(report.read_text())["engine"]
    assert facts["context"] == classic and facts["containerd_store"] == "false"
    assert facts["endpoint"].endswith("/docker.sock") and facts["endpoint"] != "unix:///var/run/docker.sock"
    assert facts["root_dir"].endswith("classic-data")
    # Built, loaded and pushed from the second engine; docker's current one saw none of it.
    assert images(classic, p.image) == ["compile-image", "runtime-image"]
    assert images(engine.context, p.image) == []
    assert cache_records(classic, owner) >= 1 and cache_records(engine.context, owner) == 0
    assert {"compile-image", "runtime-image"} <= set(p.registry.tags(p.repo))
    subprocess.run(
        ["docker", "--context", classic, "image", "rm", *(f"{p.image}:{t}" for t in images(classic, p.image))]
    )


def test_the_context_flag_wins_and_plan_names_the_engine(make_project, classic: str) -> None:
    p: Project = make_project("hello")
    p.configure("inline")
    toml = p.root / "stagecache.toml"
    toml.write_text(toml.read_text().replace('network = "none"\n', f'network = "none"\ndocker_context = "{classic}"\n'))
    planned = run("plan", "-C", str(p.root), "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert (plan["docker_context"], plan["engine_from"]) == (classic, "[project].docker_context")
    text = run("plan", "-C", str(p.root)).stdout
    assert f"engine:     docker context '{classic}' (from [project].docker_context)" in text
    # docker's own variable gives the engine when set; --context beats both.
    env_plan = json.loads(
        run("plan", "-C", str(p.root), "--json", env={"DOCKER_HOST": "unix:///var/run/docker.sock"}).stdout
    )
    assert (env_plan["docker_context"], env_plan["engine_from"]) == (None, "DOCKER_HOST")
    flag = json.loads(run("plan", "-C", str(p.root), "--json", "--context", "default").stdout)
    assert (flag["docker_context"], flag["engine_from"]) == ("default", "--context")

    doctor = run("doctor", "-C", str(p.root), "--json")
    daemon = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "daemon")
    assert f"on context '{classic}'" in daemon["detail"] and "classic image store" in daemon["detail"]
    assert "chosen by [project].docker_context" in daemon["detail"]


def test_doctor_warns_of_classic_on_the_containerd_store_and_not_on_the_classic_engine(
    make_project, classic: str
) -> None:
    p: Project = make_project("hello")
    p.configure("classic")
    checks = {c["name"]: c for c in json.loads(run("doctor", "-C", str(p.root), "--json").stdout)["checks"]}
    assert "containerd image store" in checks["daemon"]["detail"]
    assert (
        checks["legacy builder"]["status"] == "warn"
        and "failed to read diff archive" in checks["legacy builder"]["detail"]
    )
    there = {
        c["name"]: c
        for c in json.loads(run("doctor", "-C", str(p.root), "--json", "--context", classic).stdout)["checks"]
    }
    assert "legacy builder" not in there and "classic image store" in there["daemon"]["detail"]


def test_bench_runs_the_classic_strategies_on_the_classic_engine(engine: Engine, classic: str, tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    owner = tmp_path.name.replace("_", "-").lower()[-20:]
    (root / "Dockerfile").write_text(EMPTY_LAYER.format(base=engine.local_base_image, owner=owner))
    (root / "stagecache.toml").write_text(f'[project]\nimage = "{engine.registry}/{owner}/app"\nnetwork = "none"\n')
    out = tmp_path / "bench.json"
    done = run(
        "bench", "-C", str(root), "-s", "classic-stages,classic-final,inline-stages", "--scenario", "cold",
        "--allow-prune", "--classic-context", classic, "--progress", "plain", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    engines = {s["name"]: s["engine"] for s in result["strategies"]}
    assert engines == {
        "classic-stages": f"{classic}, classic store",
        "classic-final": f"{classic}, classic store",
        "inline-stages": f"{engine.context}, containerd store",
    }
    cells = {c["strategy"]: c for c in result["cells"]}
    # Every step of the stages the legacy builder ran came from the pulled images' cache,
    # WORKDIR's empty layer included (classic-final builds only the final stage's own).
    assert cells["classic-stages"]["ok"] and cells["classic-stages"]["hit_ratio"] == 1.0
    assert cells["classic-final"]["ok"] and cells["inline-stages"]["hit_ratio"] == 1.0
    assert not any("containerd image store" in n for n in result["notes"])
    assert "classic store" in done.stdout.split("cells:")[0]


def test_the_builder_of_another_context_is_refused_with_the_setting_that_works(
    make_project, engine: Engine, classic: str
) -> None:
    """buildx lists the docker-driver builder of every context, and refuses to build on one of
    another context ("use `docker --context=NAME buildx`"): stagecache says so before building."""
    p: Project = make_project("hello")
    p.configure("inline")
    toml = p.root / "stagecache.toml"
    toml.write_text(toml.read_text().replace('network = "none"\n', f'network = "none"\nbuilder = "{classic}"\n'))
    baked = run("bake", "-C", str(p.root), "--progress", "plain")
    assert baked.returncode == 2, baked.stderr
    assert f'Set [project].docker_context = "{classic}" (or pass --context {classic})' in baked.stderr
    # The first build fails at once, and the failure is explained (the builder is checked then,
    # not before: a bake that works pays nothing for the check); nothing was built or loaded.
    assert images(engine.context, p.image) == [] and images(classic, p.image) == []
    checks = {c["name"]: c for c in json.loads(run("doctor", "-C", str(p.root), "--json").stdout)["checks"]}
    assert (
        checks["builder"]["status"] == "fail"
        and "docker driver builder of docker context" in checks["builder"]["detail"]
    )
