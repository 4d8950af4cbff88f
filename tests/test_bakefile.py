"""The bake definition generated from a plan (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagecache import bakefile
from stagecache import config as cfg
from stagecache.errors import UsageError
from stagecache.plan import make_plan

DOCKERFILE = "FROM alpine AS compile\nRUN make\nFROM alpine AS runtime.v2\nCOPY --from=compile /a /a\n"


def plan_for(tmp_path: Path, toml: str):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / ".dockerignore").write_text(".stagecache/\n")
    (tmp_path / "stagecache.toml").write_text(toml)
    return make_plan(cfg.load(tmp_path / "stagecache.toml", env={}))


def test_one_target_per_stage_with_its_own_tags_and_caches(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        '[project]\nimage = "reg.example.com/app"\nnetwork = "none"\n[cache]\nmode = "registry"\n'
        '[build.args]\nVERSION = "1.${2}"\nNPM_TOKEN = "s3cret"\n',
    )
    d = bakefile.definition(plan)
    assert d["group"] == {"default": {"targets": ["compile", "runtime_v2"]}}
    assert d["variable"] == {"NPM_TOKEN": {"default": ""}}
    t = d["target"]["runtime_v2"]
    assert t["target"] == "runtime.v2" and t["tags"] == ["reg.example.com/app:runtime.v2"]
    assert t["args"] == {"VERSION": "1.$${2}", "NPM_TOKEN": "${NPM_TOKEN}"}
    assert t["cache-from"] == [
        "type=registry,ref=reg.example.com/app:cache-runtime.v2",
        "type=registry,ref=reg.example.com/app:cache-compile",
    ]
    assert t["cache-to"] == ["type=registry,ref=reg.example.com/app:cache-runtime.v2,mode=max,ignore-error=true"]
    assert t["network"] == "none"
    # The default builder loads each stage and stagecache pushes it after the session; a file
    # exported for plain `buildx bake`, or a named builder, pushes from bake.
    assert t["output"] == ["type=docker"]
    assert [c.argv for c in plan.builds[1].push_commands] == [("docker", "push", "--quiet", t["tags"][0])]
    assert bakefile.definition(plan, standalone=True)["target"]["runtime_v2"]["output"] == ["type=registry"]
    named = plan_for(tmp_path, '[project]\nimage = "reg.example.com/app"\nbuilder = "ci"\n[cache]\nmode = "registry"\n')
    assert bakefile.definition(named)["target"]["runtime_v2"]["output"] == ["type=registry"]
    assert named.builds[1].push_commands == ()
    assert "s3cret" not in str(d)
    command = bakefile.command(plan, "/tmp/def.json")
    assert command.argv == ("docker", "buildx", "bake", "--progress=rawjson", "--file", "/tmp/def.json", "default")
    assert command.env == (("NPM_TOKEN", "s3cret"),)


def test_local_cache_goes_through_incoming_except_in_an_exported_file(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, "")
    inside = bakefile.definition(plan)["target"]["compile"]
    exported = bakefile.definition(plan, standalone=True)["target"]["compile"]
    assert inside["cache-to"] == [
        f"type=local,dest={tmp_path}/.stagecache/cache/.compile.incoming,mode=max,ignore-error=true"
    ]
    assert exported["cache-to"] == [f"type=local,dest={tmp_path}/.stagecache/cache/compile,mode=max,ignore-error=true"]
    assert inside["output"] == ["type=docker"]


def test_classic_has_no_bake_equivalent(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, '[project]\nimage = "reg.example.com/app"\n[cache]\nmode = "classic"\n')
    with pytest.raises(UsageError, match="cache mode 'classic' uses the legacy builder, which has no bake equivalent"):
        bakefile.definition(plan)


def test_export_bake_plans_a_session_even_when_the_config_builds_per_stage(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from stagecache.cli import app

    (tmp_path / "Dockerfile").write_text(
        "FROM alpine AS base\nRUN a\nFROM base AS deps\nRUN b\nFROM alpine AS runtime\nCOPY --from=deps /b /b\n"
    )
    (tmp_path / "stagecache.toml").write_text(
        '[project]\nimage = "reg.example.com/app"\n[cache]\nmode = "registry"\n[build]\nexecution = "per-stage"\n'
    )
    out = tmp_path / "docker-bake.json"
    done = CliRunner().invoke(app, ["export-bake", str(out), "-C", str(tmp_path)])
    assert done.exit_code == 0, done.output
    refs = [s.split("ref=")[1] for s in json.loads(out.read_text())["target"]["runtime"]["cache-from"]]
    # Per-stage builds would import only the direct dependency's cache; a session needs them all.
    assert refs == [
        "reg.example.com/app:cache-runtime",
        "reg.example.com/app:cache-base",
        "reg.example.com/app:cache-deps",
    ]


def test_two_stages_that_would_be_one_bake_target_are_refused(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM alpine AS x.y\nRUN a\nFROM alpine AS x_y\nCOPY --from=x.y /a /a\n")
    (tmp_path / "stagecache.toml").write_text('[cache]\nmode = "none"\n[build]\nexecution = "bake"\n')
    plan = make_plan(cfg.load(tmp_path / "stagecache.toml", env={}))
    with pytest.raises(UsageError) as info:
        bakefile.definition(plan)
    assert str(info.value) == (
        f"{tmp_path / 'Dockerfile'}: stages 'x.y' and 'x_y' would both be the bake target 'x_y' (a target name "
        "cannot hold '.'). Rename one of them, or use execution = \"per-stage\"."
    )


def test_export_bake_writes_paths_relative_to_the_file_s_folder(tmp_path: Path, monkeypatch) -> None:
    import json

    from typer.testing import CliRunner

    from stagecache.cli import app

    root = tmp_path / "repo"
    (root / "docker" / "app").mkdir(parents=True)
    (root / "docker" / "app" / "Dockerfile").write_text(DOCKERFILE)
    (root / ".dockerignore").write_text(".stagecache/\n")
    (root / "stagecache.toml").write_text('[project]\ndockerfile = "docker/app/Dockerfile"\n')
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app, ["export-bake", "repo/ci/docker-bake.json", "-C", "repo"])
    assert done.exit_code == 0, done.output
    assert done.output == (
        f"wrote repo/ci/docker-bake.json: its paths are relative to {root / 'ci'}; run it there with "
        "`docker buildx bake --file docker-bake.json`.\n"
    )
    target = json.loads((root / "ci" / "docker-bake.json").read_text())["target"]["compile"]
    assert (target["context"], target["dockerfile"]) == ("..", "docker/app/Dockerfile")  # dockerfile: from the context
    assert target["cache-from"] == ["type=local,src=../.stagecache/cache/compile"]
    assert target["cache-to"] == ["type=local,dest=../.stagecache/cache/compile,mode=max,ignore-error=true"]
    assert str(tmp_path) not in (root / "ci" / "docker-bake.json").read_text()


def test_plan_shows_the_bake_session_that_bake_runs(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from stagecache.cli import app

    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / ".dockerignore").write_text(".stagecache/\n")
    (tmp_path / "stagecache.toml").write_text('[build.args]\nAPI_TOKEN = "tok-value"\n')
    (tmp_path / "stagecache.toml").write_text('[build.args]\nAPI_TOKEN = "tok-value"\n[build]\nfast_path = false\n')
    text = CliRunner().invoke(app, ["plan", "-C", str(tmp_path), "--execution", "bake"])
    assert text.exit_code == 0, text.output
    commands = text.output.split("commands (one bake session):\n", 1)[1]
    assert commands.startswith(
        "  1. API_TOKEN=*** docker buildx bake --progress=rawjson --file '<bake file>' default\n"
        f"     # then, for each stage, .STAGE.incoming replaces {tmp_path.resolve()}/.stagecache/cache/STAGE\n\n"
        "<bake file> (written to a temporary file when bake runs):\n  {\n"
    )
    assert "docker buildx build" not in text.output and "tok-value" not in text.output
    shown = json.loads("\n".join(ln[2:] for ln in commands.split("runs):\n", 1)[1].splitlines() if ln.startswith("  ")))
    plan = plan_for(tmp_path, '[build.args]\nAPI_TOKEN = "tok-value"\n[build]\nexecution = "bake"\n')
    assert shown == bakefile.definition(plan)  # the very file bake writes
    data = json.loads(CliRunner().invoke(app, ["plan", "-C", str(tmp_path), "--execution", "bake", "--json"]).output)
    assert data["execution"] == "bake" and data["bake"]["definition"] == shown
    assert data["bake"]["argv"][:3] == ["docker", "buildx", "bake"] and data["bake"]["env"] == {"API_TOKEN": "***"}
    per_stage = json.loads(
        CliRunner().invoke(app, ["plan", "-C", str(tmp_path), "--execution", "per-stage", "--json"]).output
    )
    assert per_stage["execution"] == "per-stage" and per_stage["bake"] is None
