"""Input manifests (stagecache.inputs), where they are kept (stagecache.inputstore) and the
cause of a stage's first miss (stagecache.explain)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from stagecache import explain, graph, inputstore
from stagecache.cache import CacheSpec
from stagecache.explain import first_miss
from stagecache.inputs import Context, StageInputs, StepInputs, collect, keyed_hash
from stagecache.report import StepResult
from tests.conftest import write

DOCKERFILE = """\
ARG BASE=busybox
FROM ${BASE} AS deps
ARG LEVEL=2
ENV MODE=fast
WORKDIR /src
COPY requirements.txt ./
RUN install --level $LEVEL
FROM deps AS build
ARG TOKEN
COPY src/ ./src/
COPY *.cfg conf/
RUN make
FROM busybox AS final
COPY --from=build /src/app /app
"""


def inputs_of(root: Path, args: dict[str, str] | None = None, secret: tuple[str, ...] = ()) -> dict[str, StageInputs]:
    g = graph.parse(root / "Dockerfile", args or {})
    context = Context(root, root / "Dockerfile")
    return {s.label: collect(s, g, context, secret) for s in g.stages}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "Dockerfile", DOCKERFILE)
    write(tmp_path / "requirements.txt", "flask\n")
    write(tmp_path / "src" / "main.c", "int main;\n")
    write(tmp_path / "src" / "util.c", "int util;\n")
    write(tmp_path / "src" / "notes.tmp", "scratch\n")
    write(tmp_path / "a.cfg", "a\n")
    write(tmp_path / "b.cfg", "b\n")
    write(tmp_path / ".dockerignore", "**/*.tmp\n")
    return tmp_path


def test_each_step_records_its_instruction_variables_files_and_upstream(project: Path) -> None:
    got = inputs_of(project, {"TOKEN": "s3cret"}, secret=("TOKEN",))
    deps, build, final = got["deps"], got["build"], got["final"]
    assert [(s.number, s.line, s.instruction) for s in deps.steps] == [
        (2, 5, "WORKDIR /src"),
        (3, 6, "COPY requirements.txt ./"),
        (4, 7, "RUN install --level $LEVEL"),
    ]
    # RUN sees every ARG and ENV in effect; COPY only what it names (nothing here).
    assert deps.step(4).variables == (("LEVEL", "2"), ("MODE", "fast"))
    assert deps.step(3).variables == ()
    assert deps.args == ("LEVEL",)
    # Files after .dockerignore, with content digest and mode; wildcards within one element.
    mode = f"{os.stat(project / 'src' / 'main.c').st_mode & 0o7777:o}"
    assert [p for p, _ in build.step(1).files] == ["src/main.c", "src/util.c"]
    assert build.step(1).files[0][1].endswith(" " + mode) and build.step(1).files[0][1].startswith("sha256:")
    assert [p for p, _ in build.step(2).files] == ["a.cfg", "b.cfg"]
    # A secret build arg is a keyed hash, never its value.
    (token,) = [v for n, v in build.step(3).variables if n == "TOKEN"]
    assert token == keyed_hash("TOKEN", "s3cret") and "s3cret" not in json.dumps(build.to_json())
    assert build.secret == ("TOKEN",) and build.base == "stage deps"
    assert final.step(2).uses == ("build",) and final.step(2).files == ()


def test_a_manifest_survives_its_json_and_refuses_another_schema(project: Path) -> None:
    stage = inputs_of(project)["build"].with_base("docker.io/library/busybox@sha256:" + "a" * 64)
    assert StageInputs.from_json(json.loads(json.dumps(stage.to_json()))) == stage
    with pytest.raises(ValueError, match="not a stagecache.inputs/v1 document"):
        StageInputs.from_json({"schema": "other"})
    with pytest.raises(ValueError, match="malformed"):
        StageInputs.from_json({"schema": "stagecache.inputs/v1", "steps": [{}]})


def test_selecting_sources_as_copy_does(tmp_path: Path) -> None:
    for name in ("app/a.py", "app/sub/b.py", "apple.txt", "docs/x.md", "node_modules/m/i.js", "x.py"):
        write(tmp_path / name, name)
    write(tmp_path / ".dockerignore", "node_modules\n")
    ctx = Context(tmp_path)
    assert ctx.select("app") == ["app/a.py", "app/sub/b.py"]  # a folder: everything below it, not apple.txt
    assert ctx.select("./app/") == ["app/a.py", "app/sub/b.py"]
    assert ctx.select("/x.py") == ["x.py"]
    assert ctx.select("*.py") == ["x.py"]  # '*' stays within one path element
    assert ctx.select("app/*.py") == ["app/a.py"]
    assert ctx.select("ap*") == ["app/a.py", "app/sub/b.py", "apple.txt"]
    assert ctx.select("node_modules") == []  # not in the context
    assert ".dockerignore" in ctx.select(".")
    assert not any(f.startswith("node_modules") for f in ctx.select("."))


def steps(*cached: bool) -> tuple[StepResult, ...]:
    return tuple(StepResult("build", n, f"RUN step{n}", 10 + n, hit, 0.0) for n, hit in enumerate(cached, start=2))


def stage(*step_inputs: StepInputs, base: str = "docker.io/library/gcc:13@sha256:" + "1" * 64) -> StageInputs:
    return StageInputs("build", step_inputs, args=("VERSION",), secret=("TOKEN",), base=base, key="k")


def step(n: int, instruction: str | None = None, variables=(), files=(), uses=()) -> StepInputs:
    return StepInputs(n, 10 + n, instruction or f"RUN step{n}", tuple(variables), tuple(files), tuple(uses))


BEFORE = stage(step(2), step(3, files=[("src/a.c", "sha256:1 644")]), step(4, uses=["deps"]))


@pytest.mark.parametrize(
    ("now", "cache", "rebuilt", "cause", "detail"),
    [
        (
            BEFORE,
            "missing: reg/app:cache-build",
            (),
            "no-cache",
            "no cache of this stage was found: reg/app:cache-build (its first build?)",
        ),
        (BEFORE, "failed: unauthorized", (), "no-cache", "its cache could not be imported: unauthorized"),
        (BEFORE, "off", (), "no-cache", "caching is off (cache mode none)"),
        (
            stage(step(2, "RUN step2 --fast"), *BEFORE.steps[1:]),
            "imported",
            (),
            "instruction",
            "the instruction changed: was 'RUN step2'",
        ),
        (
            stage(step(2, variables=[("VERSION", "2")]), *BEFORE.steps[1:]),
            "imported",
            (),
            "build-arg",
            "build arg changed: VERSION: (unset) -> '2'",
        ),
        (
            stage(step(2, variables=[("TOKEN", "hmac:ab")]), *BEFORE.steps[1:]),
            "imported",
            (),
            "build-arg",
            "build arg changed: TOKEN (secret)",
        ),
        (
            stage(step(2, variables=[("PATH", "/x")]), *BEFORE.steps[1:]),
            "imported",
            (),
            "env",
            "variable changed: PATH: (unset) -> '/x'",
        ),
        (
            stage(*BEFORE.steps, base="docker.io/library/gcc:13@sha256:" + "2" * 64),
            "imported",
            (),
            "base-image",
            "base image docker.io/library/gcc:13 changed: sha256:111111111111 -> sha256:222222222222",
        ),
        (
            BEFORE,
            "imported",
            (),
            "not-in-cache",
            "the imported cache did not hold this step, although what stagecache records of its inputs "
            "(instruction, variables, files, upstream stages, base image) is unchanged",
        ),
    ],
)
def test_the_cause_of_the_first_miss(now, cache, rebuilt, cause, detail) -> None:
    got = first_miss(steps(False, False, False), now, BEFORE, cache, rebuilt)
    assert got is not None and (got.step, got.line, got.cause, got.detail) == (2, 12, cause, detail)


def test_files_and_upstream_causes_at_a_later_step() -> None:
    edited = stage(
        step(2),
        step(3, files=[("src/a.c", "sha256:2 644"), *((f"src/n{i}.c", "sha256:3 644") for i in range(6))]),
        step(4, uses=["deps"]),
    )
    got = first_miss(steps(True, False, False), edited, BEFORE, "imported")
    assert got is not None and got.cause == "files"
    assert got.detail == "files changed: src/a.c; added: src/n0.c, src/n1.c, src/n2.c, src/n3.c (and 2 more)"
    assert got.describe() == "step 3 (line 13, RUN step3): " + got.detail
    removed = stage(step(2), step(3), step(4, uses=["deps"]))
    assert first_miss(steps(True, False, False), removed, BEFORE, "imported").detail == "files removed: src/a.c"
    got = first_miss(steps(True, True, False), BEFORE, BEFORE, "imported", rebuilt={"deps"})
    assert (got.step, got.cause, got.detail) == (4, "upstream", "upstream stage 'deps' was rebuilt")


def test_no_miss_unrecorded_min_and_a_new_step() -> None:
    assert first_miss(steps(True, True, True), BEFORE, BEFORE, "imported") is None
    assert first_miss(steps(False, False, False), BEFORE, None, "imported").cause == "unrecorded"
    got = first_miss(steps(True, True, True, False), stage(*BEFORE.steps, step(5)), BEFORE, "imported")
    assert (got.step, got.cause, got.detail) == (5, "instruction", "a new step (the stage had 3 steps)")
    got = first_miss(steps(False, False, False), BEFORE, BEFORE, "imported", registry_mode="min")
    assert got.detail.endswith("is unchanged; mode=min exports only the layers of the stage's image")


def test_the_record_sits_beside_the_cache(tmp_path: Path) -> None:
    reg = inputstore.place_of(CacheSpec("registry", (("ref", "reg:5000/app:cache-build"),)))
    assert reg == inputstore.Place("registry", "reg:5000/app:cache-build", "reg:5000/app:cache-build.inputs")
    assert reg.host == "reg:5000"
    assert inputstore.place_of(CacheSpec("registry", (("ref", "reg:5000/app"),))) is None  # no tag
    # Docker Hub names: the registry is docker.io, not the first path element.
    hub = inputstore.place_of(CacheSpec("registry", (("ref", "myorg/app:cache-build"),)))
    assert hub.host == "docker.io" and inputstore.split_ref(hub.where) == (
        "docker.io",
        "myorg/app",
        "cache-build.inputs",
    )
    assert inputstore.split_ref("app:cache") == ("docker.io", "library/app", "cache")
    # A tag too long for the suffix is shortened with a hash of the whole: two stages never share one.
    one, two = (inputstore.record_tag(f"{'t' * 120}-{s}") for s in ("app", "bpp"))
    assert one != two and len(one) == 128 and one.endswith(".inputs")
    assert inputstore.place_of(CacheSpec("inline")) is None
    local = inputstore.place_of(CacheSpec("local", (("src", str(tmp_path / "build")),)))
    assert local == inputstore.Place("local", str(tmp_path / "build"), str(tmp_path / "build" / inputstore.FILE))
    assert inputstore.read(local, "build") is None and inputstore.identity(local) == ""
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "index.json").write_text("{}")
    assert inputstore.identity(local).startswith("sha256:")
    inputs = stage(step(2))
    inputstore.write(local, inputs)
    assert inputstore.read(local, "build") == inputs
    assert inputstore.read(local, "deps") is None  # the record of another stage is not this one's
    assert sorted(p.name for p in (tmp_path / "build").iterdir()) == ["index.json", "stagecache-inputs.json"]
    (tmp_path / "build" / "stagecache-inputs.json").write_text('{"schema": "stagecache.inputs/v1", "steps": 3}')
    assert inputstore.read(local, "build") is None


def test_a_pipe_in_the_context_is_never_opened_and_a_linked_source_is_followed(tmp_path: Path) -> None:
    write(tmp_path / "real.txt", "v1\n")
    os.symlink("real.txt", tmp_path / "link.txt")
    os.mkfifo(tmp_path / "pipe")
    ctx = Context(tmp_path)
    assert ctx.digest("pipe") == "special:other"
    assert ctx.digest("link.txt") == "link:real.txt"
    assert ctx.digest("link.txt", follow=True) == ctx.digest("real.txt")


def test_secrets_by_name_or_by_value_never_reach_the_record(tmp_path: Path) -> None:
    from stagecache import config as cfg
    from stagecache.plan import make_plan
    from stagecache.why import Record

    write(
        tmp_path / "Dockerfile",
        "FROM busybox AS app\nARG NPM_TOKEN\nARG DB_URL\nARG PLAIN\nENV AUTH=Bearer-${NPM_TOKEN}\n"
        "RUN --mount=type=bind,source=go.sum,target=/g make\n",
    )
    write(tmp_path / "go.sum", "sum\n")
    write(
        tmp_path / "stagecache.toml",
        '[cache]\nlocal_dir = "cache"\n[build.args]\nNPM_TOKEN = "tok-SECRET-123"\n'
        'DB_URL = "postgres://u:hunter2pass@db/x"\nPLAIN = "visible"\n',
    )
    plan = make_plan(cfg.load(tmp_path / "stagecache.toml", env={}))
    (app,) = Record.start(plan).current.values()
    text = json.dumps(app.to_json())
    for secret in ("tok-SECRET-123", "hunter2pass"):
        assert secret not in text
    run = app.steps[0]
    assert dict(run.variables)["PLAIN"] == "visible"
    assert set(app.secret) == {"NPM_TOKEN", "DB_URL", "AUTH"}  # AUTH is made from NPM_TOKEN
    assert run.files == (("go.sum", Context(tmp_path).digest("go.sum")),)  # a bind mount of a context file


def test_the_summary_report_and_job_summary_say_why() -> None:
    from stagecache.explain import Miss
    from stagecache.report import BakeResult, StageResult, summary, to_json, to_markdown

    deps = StageResult("deps", "built", 1.0, steps(True, True, False), first_miss=None)
    miss = Miss(3, 5, "COPY deps.txt ./", "files", "files changed: deps.txt")
    build = StageResult("build", "built", 1.0, steps(True, False), first_miss=miss)
    final = StageResult(
        "final",
        "built",
        1.0,
        steps(False),
        first_miss=Miss(2, 11, "COPY --from=build /app /app", "upstream", "upstream stage 'build' was rebuilt"),
    )
    result = BakeResult("success", "final", "local", "max", (deps, build, final), 3.0)
    lines = summary(result).splitlines()
    assert lines[lines.index("why:") :] == [
        "why:",
        "  build  step 3 (line 5, COPY deps.txt ./): files changed: deps.txt",
        "  final  step 2 (line 11, COPY --from=build /app /app): upstream stage 'build' was rebuilt",
    ]
    stages = to_json(result)["stages"]
    assert [s["first_miss"] for s in stages] == [
        None,
        {"step": 3, "line": 5, "cause": "files", "detail": "files changed: deps.txt"},
        {"step": 2, "line": 11, "cause": "upstream", "detail": "upstream stage 'build' was rebuilt"},
    ]
    assert "- **build** step 3 (line 5, COPY deps.txt ./): files changed: deps.txt" in to_markdown(result)
    star = replace(build, first_miss=Miss(2, 3, "RUN cat src/* | sort", "files", "files changed: a_b.c"))
    md = to_markdown(BakeResult("success", "build", "local", "max", (star,), 1.0))
    assert "- **build** step 2 (line 3, RUN cat src/\\* \\| sort): files changed: a\\_b.c" in md
    assert "why:" not in summary(BakeResult("success", "final", "local", "max", (deps,), 1.0))


def test_explain_forecasts_the_next_bake_from_the_stored_records(project: Path) -> None:
    from typer.testing import CliRunner

    from stagecache import config as cfg
    from stagecache.cli import app
    from stagecache.plan import make_plan
    from stagecache.why import Record

    (project / "stagecache.toml").write_text('[project]\nnetwork = "none"\n[cache]\nlocal_dir = "cache"\n')
    cli = CliRunner()
    first = cli.invoke(app, ["explain", "-C", str(project)])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[0] == (
        "deps   no record of its inputs beside its cache: no cache yet, or one written without it"
    )
    # What a bake that wrote every cache leaves: each cache, and the record of its current inputs.
    plan = make_plan(cfg.load(project / "stagecache.toml", env={}))
    record = Record.start(plan)
    for label, inputs in record.current.items():
        (project / "cache" / label).mkdir(parents=True)
        (project / "cache" / label / "index.json").write_text(f'{{"stage": "{label}"}}')
        place = record.places[label]
        inputstore.write(place, dataclasses.replace(inputs, cache=inputstore.identity(place)))
    assert cli.invoke(app, ["explain", "-C", str(project)]).output.splitlines()[:3] == [
        f"{stage}  up to date: every step's inputs are as recorded" for stage in ("deps ", "build", "final")
    ]
    # A cache written again without its record (another tool, a bake stopped before storing it):
    # the record beside it describes another cache and is not read.
    (project / "cache" / "final" / "index.json").write_text('{"stage": "final", "again": true}')
    assert cli.invoke(app, ["explain", "-C", str(project)]).output.splitlines()[2] == (
        "final  no record of its inputs beside its cache: no cache yet, or one written without it"
    )
    (project / "cache" / "final" / "index.json").write_text('{"stage": "final"}')
    (project / "src" / "util.c").write_text("int util2;\n")
    (project / "src" / "extra.c").write_text("int extra;\n")
    out = cli.invoke(app, ["explain", "-C", str(project), "--target", "final"]).output.splitlines()
    assert out == [
        "deps   up to date: every step's inputs are as recorded",
        "build  step 1 (line 10, COPY src/ ./src/): files changed: src/util.c; added: src/extra.c",
        "final  step 2 (line 14, COPY --from=build /src/app /app): upstream stage 'build' will be rebuilt",
        "(base images are not resolved without a build: a new digest of one shows only when baking)",
    ]
    (project / "stagecache.toml").write_text('[project]\nimage = "r/app"\n[cache]\nmode = "classic"\n')
    classic = cli.invoke(app, ["explain", "-C", str(project)])
    assert classic.exit_code == 2 and "only the inline, local and registry cache modes keep" in classic.output


def test_steps_moved_upstream_changes_since_and_a_base_digest_after_the_steps_own_inputs() -> None:
    inserted = stage(step(2, "RUN new"), step(3, "RUN step2"), step(4, files=[("src/a.c", "sha256:1 644")]), step(5))
    got = first_miss(steps(False, False, False, False), inserted, BEFORE, "imported")
    assert got.detail == "the stage's steps changed here (it had 3, now 4): step 2 was 'RUN step2'"
    # deps was not rebuilt in this bake, but is not what it was when this stage's cache was written.
    then = dataclasses.replace(BEFORE, upstream=(("deps", "f1"),))
    now = dataclasses.replace(BEFORE, upstream=(("deps", "f2"),))
    got = first_miss(steps(True, True, False), now, then, "imported")
    assert (got.step, got.cause) == (4, "upstream")
    assert got.detail == "upstream stage 'deps' changed since this stage's cache was written"
    # A new digest of the base with a file change at the first step: the files are named.
    edited = stage(
        step(2, files=[("x", "sha256:9 644")]), *BEFORE.steps[1:], base="docker.io/library/gcc:13@sha256:" + "2" * 64
    )
    assert first_miss(steps(False, False, False), edited, BEFORE, "imported").cause == "files"


def test_records_are_written_when_the_cache_is_and_kept_through_a_swap(project: Path) -> None:
    from stagecache import config as cfg
    from stagecache.plan import make_plan
    from stagecache.report import StageResult
    from stagecache.why import Record

    (project / "stagecache.toml").write_text('[cache]\nlocal_dir = "cache"\n')
    plan = make_plan(cfg.load(project / "stagecache.toml", env={}))

    def rows(hit: bool, exported: bool) -> list[StageResult]:
        return [
            StageResult(
                b.stage,
                "built",
                1.0,
                (StepResult(b.stage, 2, "RUN x", 3, hit, 0.0),),
                cache_from=tuple(str(s) for s in b.cache.cache_from),
                cache_to=tuple(str(s) for s in b.cache.cache_to) if exported else (),
            )
            for b in plan.builds
        ]

    def records() -> dict[str, str]:
        """Each stage's record, without the time it was written (a record written again in the
        next second is the same record)."""
        out = {}
        for b in plan.builds:
            doc = json.loads((project / "cache" / b.stage / inputstore.FILE).read_text())
            assert isinstance(doc.pop("written"), str)
            out[b.stage] = json.dumps(doc, sort_keys=True)
        return out

    # A first bake: no cache before, a new one after (its index.json): each gets its record.
    Record.start(plan)  # nothing there yet
    record = Record.start(plan)
    for b in plan.builds:
        (project / "cache" / b.stage).mkdir(parents=True)
        (project / "cache" / b.stage / "index.json").write_text(f'["{b.stage}"]')
    record.finish(rows(hit=False, exported=True))
    first = records()
    assert all(json.loads(t)["cache"].startswith("sha256:") for t in first.values())
    # A bake that swapped in a cache with the same index.json: the record went with the old folder.
    for b in plan.builds:
        (project / "cache" / b.stage / inputstore.FILE).unlink()
    Record.start(plan).finish(rows(hit=True, exported=True))
    assert records() == first
    # A miss with no export leaves the record as it was, even when the inputs changed.
    (project / "requirements.txt").write_text("flask\ndjango\n")
    Record.start(plan).finish(rows(hit=False, exported=False))
    assert records() == first
    # Every step hit, but the record beside the cache describes other inputs: hits alone do not
    # say which cache served them (another stage's, the engine's own), so the record stays.
    Record.start(plan).finish(rows(hit=True, exported=False))
    assert records() == first
    # Exported by this bake, with the same index.json as before: the cache holds the current
    # inputs, and its record says so.
    Record.start(plan).finish(rows(hit=True, exported=True))
    assert json.loads(records()["deps"])["steps"] != json.loads(first["deps"])["steps"]
    # A read-only bake writes nothing.
    before = records()
    (project / "requirements.txt").write_text("flask\n")
    read_only = make_plan(cfg.load(project / "stagecache.toml", env={}, overrides=cfg.Overrides(read_only=True)))
    Record.start(read_only).finish(rows(hit=True, exported=True))
    assert records() == before


def test_a_fingerprint_ignores_lines_and_a_moved_base_stage_is_said_so() -> None:
    from stagecache.explain import predict

    moved_lines = stage(*(dataclasses.replace(s, line=s.line + 1) for s in BEFORE.steps))
    assert moved_lines.fingerprint() == BEFORE.fingerprint()
    assert stage(step(2, "RUN other"), *BEFORE.steps[1:]).fingerprint() != BEFORE.fingerprint()
    then = dataclasses.replace(BEFORE, base="stage deps", upstream=(("deps", "f1"),))
    now = dataclasses.replace(BEFORE, base="stage deps", upstream=(("deps", "f2"),))
    got = predict(now, then)
    assert (got.step, got.cause, got.detail) == (
        2,
        "upstream",
        "its base stage 'deps' changed since this stage's cache was written",
    )
    assert predict(now, then, rebuilt={"deps"}).detail == "its base stage 'deps' will be rebuilt"
    assert predict(then, then) is None


def test_a_line_that_makes_no_step_is_named_by_the_stage_key() -> None:
    # USER 1000 added above step 3: no step's own inputs changed, the stage's key did.
    before, now = replace(BEFORE, key="k1"), replace(BEFORE, key="k2")
    miss = explain.first_miss(steps(True, False, False), now, before, "imported")
    assert miss is not None and (miss.step, miss.cause, miss.detail) == (3, "instruction", explain.REWRITTEN)
    assert explain.predict(now, before) == explain.Miss(2, 12, "RUN step2", "instruction", explain.REWRITTEN)
    # Records written before the key was kept say nothing of it.
    assert explain.predict(now, replace(BEFORE, key="")) is None
    assert explain.first_miss(steps(True, False, False), now, replace(BEFORE, key=""), "imported").cause == (
        "not-in-cache"
    )


def test_a_key_changed_by_a_later_step_says_nothing_of_an_earlier_miss() -> None:
    # A build arg that only step 4 uses changed, so the stage's key changed too; step 2 missed
    # all the same (the engine's builder ran it again): that miss is not-in-cache, not the key.
    before = replace(BEFORE, key="k1", steps=(*BEFORE.steps[:2], step(4, variables=[("LEVEL", "1")])))
    now = replace(before, key="k2", steps=(*BEFORE.steps[:2], step(4, variables=[("LEVEL", "2")])))
    assert explain.first_miss(steps(False, True, False), now, before, "imported").cause == "not-in-cache"
    changed = "variable changed: LEVEL: '1' -> '2'"
    assert explain.predict(now, before) == explain.Miss(4, 14, "RUN step4", "env", changed)


def test_a_key_changed_beside_a_later_file_change_still_names_the_earlier_miss() -> None:
    # The platform changed (the key only) and a file of step 3 changed (not in the key): step 2
    # missed for the key's change, which a file change elsewhere cannot explain.
    before = replace(BEFORE, key="k1")
    now = replace(
        BEFORE, key="k2", steps=(BEFORE.steps[0], step(3, files=[("src/a.c", "sha256:2 644")]), BEFORE.steps[2])
    )
    miss = explain.first_miss(steps(False, False, False), now, before, "imported")
    assert miss is not None and (miss.step, miss.cause, miss.detail) == (2, "instruction", explain.REWRITTEN)
