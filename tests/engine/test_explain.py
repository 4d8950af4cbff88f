"""Why a stage missed, on the engine: each cause stagecache names is provoked for real (a
copied file edited, a build arg changed, an instruction changed, a new digest of the base
image, an upstream stage rebuilt, no cache at all), baked on a fresh runner, and the cause is
checked against what BuildKit did (the step it names is the first one that missed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stagecache.report import BakeResult
from tests.engine.conftest import Project

STAGECACHE = str(Path(sys.executable).parent / "stagecache")

DOCKERFILE = """\
ARG BASE_IMAGE=stagecache/busybox:latest
FROM ${{BASE_IMAGE}} AS deps
ARG LEVEL=1
COPY deps.txt /src/
RUN cat /src/deps.txt > /deps.out && echo "level $LEVEL" >> /deps.out  # {owner}
FROM deps AS build
COPY src/ /src/src/
RUN cat /src/src/* > /app
FROM ${{BASE_IMAGE}} AS final
COPY --from=build /app /app
"""


def why_project(make_project, mode: str = "local") -> Project:
    p: Project = make_project("hello")
    for name in ("Dockerfile", "hello.c", "motd.txt"):
        (p.root / name).unlink()
    (p.root / "Dockerfile").write_text(DOCKERFILE.format(owner=p.repo.split("/")[0]))
    (p.root / "deps.txt").write_text("flask\n")
    (p.root / "src").mkdir()
    (p.root / "src" / "main.c").write_text("int main;\n")
    (p.root / "src" / "util.c").write_text("int util;\n")
    p.configure(mode, extra='[build.args]\nLEVEL = "1"\n')
    return p


def why(result: BakeResult) -> dict[str, tuple[int, str, str] | None]:
    """stage -> (step, cause, detail) of its first miss, or None."""
    out: dict[str, tuple[int, str, str] | None] = {}
    for s in result.stages:
        m = s.first_miss
        out[s.stage] = None if m is None else (m.step, m.cause, m.detail)
        if m is not None:  # the step named is the first one BuildKit ran rather than took from cache
            assert min(st.number for st in s.steps if not st.cached) == m.step, s
    return out


def rebake(p: Project) -> BakeResult:
    """What a fresh runner's bake says of the current tree, then the bake that writes its caches.

    The engine's builder sometimes runs again a step that the imported cache holds (docs/
    benchmarks.md, "Registry caches on this engine"; local caches too, rarely): stagecache then
    names the miss `not-in-cache`, as it should. To test the other causes, the tree is first
    baked read-only (nothing is exported or recorded, so the bake can be run again), up to three
    times until no stage reports that; the result of that bake is returned."""
    for _ in range(3):
        p.fresh_runner()
        result = p.bake(read_only=True)
        if all(s.first_miss is None or s.first_miss.cause != "not-in-cache" for s in result.stages):
            break
    p.fresh_runner()
    p.bake()
    return result


def test_each_cause_is_named_on_a_fresh_runner(make_project) -> None:
    p = why_project(make_project)
    cache = p.root / ".stagecache" / "cache"
    first = rebake(p)
    assert why(first) == {
        stage: (
            1 if stage == "build" else 2,
            "no-cache",
            f"no cache of this stage was found: {cache / stage} (its first build?)",
        )
        for stage in ("deps", "build", "final")
    }
    assert (cache / "deps" / "stagecache-inputs.json").is_file()

    assert why(rebake(p)) == {"deps": None, "build": None, "final": None}  # nothing changed, nothing missed

    p.append("src/main.c", "int edited;")
    assert why(rebake(p)) == {
        "deps": None,
        "build": (1, "files", "files changed: src/main.c"),
        "final": (2, "upstream", "upstream stage 'build' was rebuilt"),
    }

    p.configure("local", extra='[build.args]\nLEVEL = "2"\n')
    got = why(rebake(p))
    assert got["deps"] == (3, "build-arg", "build arg changed: LEVEL: '1' -> '2'")
    assert got["build"] == (1, "upstream", "its base stage 'deps' was rebuilt")

    dockerfile = p.root / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("RUN cat /src/src/* > /app", "RUN cat /src/src/*.c > /app"))
    assert why(rebake(p))["build"] == (2, "instruction", "the instruction changed: was 'RUN cat /src/src/* > /app'")

    # A new digest of the same base image, with other content (BuildKit keys a step on the
    # content of the layers under it: a new label alone changes the digest, not the steps' keys).
    base = f"stagecache-test/{p.repo.split('/')[0]}-base:latest"
    digests = []
    for label in ("one", "two"):
        built = subprocess.run(
            ["docker", "buildx", "build", "--load", "--network", "none", "-t", base, "-"],
            input=f"FROM {p.engine.local_base_image}\nRUN echo {label} > /base-version\n",
            capture_output=True,
            text=True,
        )
        assert built.returncode == 0, built.stderr
        p.configure("local", extra=f'[build.args]\nLEVEL = "2"\nBASE_IMAGE = "{base}"\n')
        result = rebake(p)
        digests.append(result.stages[0].base)
    subprocess.run(["docker", "image", "rm", base], capture_output=True)
    step, cause, detail = why(result)["deps"] or (0, "", "")
    assert (step, cause) == (2, "base-image") and digests[0] != digests[1], (digests, detail)
    old, new = (d.partition("@")[2][:19] for d in digests)
    assert detail == f"base image docker.io/{base} changed: {old} -> {new}"


def test_registry_keeps_the_record_beside_the_cache_and_the_cli_says_why(make_project, tmp_path: Path) -> None:
    p = why_project(make_project, "registry")
    rebake(p)
    assert {"cache-deps.inputs", "cache-build.inputs", "cache-final.inputs"} <= set(p.registry.tags(p.repo))
    p.append("deps.txt", "requests")
    report = tmp_path / "report.json"
    before = p.registry.manifest(p.repo, "cache-deps.inputs")
    for _ in range(3):  # read-only, so it can run again if the builder lost a step (see rebake)
        p.fresh_runner()
        done = subprocess.run(
            [STAGECACHE, "bake", "-C", str(p.root), "--progress", "plain", "--read-only", "--report", str(report)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        if "is unchanged" not in done.stdout:  # the not-in-cache cause
            break
    lines = done.stdout.splitlines()
    start = lines.index("why:")
    # final copies /app, which the rebuilt build stage made the same as before: BuildKit keys the
    # COPY on the content, so final hits and has no line.
    assert lines[start + 1 :] == [
        "  deps   step 2 (line 4, COPY deps.txt /src/): files changed: deps.txt",
        "  build  step 1 (line 7, COPY src/ /src/src/): its base stage 'deps' was rebuilt",
    ]
    data = json.loads(report.read_text())
    assert [s["first_miss"] for s in data["stages"]][0] == {
        "step": 2,
        "line": 4,
        "cause": "files",
        "detail": "files changed: deps.txt",
    }
    # The read-only bakes stored nothing: the record still says what the last written cache held.
    assert p.registry.manifest(p.repo, "cache-deps.inputs") == before
