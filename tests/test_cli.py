"""The CLI: exact error text and exit codes, help, version, plan output. No engine needed."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from stagecache import __version__
from stagecache.cli import app

runner = CliRunner()
DOCKERFILE = "FROM alpine AS build\nRUN make\nFROM alpine AS runtime\nCOPY --from=build /a /a\n"


def project(tmp_path: Path, toml: str = "", dockerfile: str = DOCKERFILE) -> Path:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / ".dockerignore").write_text(".stagecache/\n")
    if toml:
        (tmp_path / "stagecache.toml").write_text(toml)
    return tmp_path


def test_version_and_help() -> None:
    assert runner.invoke(app, ["--version"]).output == f"stagecache {__version__}\n"
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "plan" in result.output and "bake" in result.output


def test_config_error_is_one_paragraph_exit_2(tmp_path: Path) -> None:
    project(tmp_path, '[cache]\nmode = "fast"\n')
    result = runner.invoke(app, ["plan", "-C", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (
        f'Error: {tmp_path / "stagecache.toml"}: key \'cache.mode\': expected one of "registry", "inline", '
        '"local", "classic", "none", got \'fast\'.\n'
    )


def test_toml_syntax_error_exit_2(tmp_path: Path) -> None:
    project(tmp_path, "[cache\n")
    result = runner.invoke(app, ["plan", "-C", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {tmp_path / 'stagecache.toml'}:1:7: TOML syntax error: ")
    assert "Traceback" not in result.output


def test_unknown_target_exit_2(tmp_path: Path) -> None:
    project(tmp_path)
    result = runner.invoke(app, ["plan", "-C", str(tmp_path), "--target", "tset"])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path / 'Dockerfile'}: no stage named 'tset'. Stages that can be targeted: build, runtime. "
        "Set [project].target (or --target) to one of them.\n"
    )


def test_flag_like_target_exit_2(tmp_path: Path) -> None:
    project(tmp_path)
    result = runner.invoke(app, ["plan", "-C", str(tmp_path), "--target=--push"])
    assert result.exit_code == 2
    assert result.output == (
        "Error: command line: option --target: '--push' is not allowed: "
        "it starts with '-' and would be read as a flag.\n"
    )


def test_missing_dockerfile_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "-C", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path / 'Dockerfile'}: Dockerfile not found. No stagecache.toml was found in {tmp_path}, "
        "so the Dockerfile is looked for there: run stagecache in the project folder (or point -C at it), or set "
        "[project].dockerfile in a stagecache.toml.\n"
    )


def test_a_missing_dockerfile_is_looked_for_beside_the_config_given(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "ci.toml").write_text('[project]\nimage = "x/y"\n')
    result = runner.invoke(app, ["plan", "-C", str(tmp_path / "proj"), "-c", str(tmp_path / "conf" / "ci.toml")])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path / 'conf' / 'Dockerfile'}: Dockerfile not found. Check [project].dockerfile in "
        f"{tmp_path / 'conf' / 'ci.toml'} (a path relative to {tmp_path / 'conf'}, or an absolute one).\n"
    )


def test_bake_refuses_unsafe_local_dir_before_touching_docker(tmp_path: Path) -> None:
    project(tmp_path, '[cache]\nlocal_dir = "/"\n')
    result = runner.invoke(app, ["bake", "-C", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path / 'stagecache.toml'}: key 'cache.local_dir' is /; stagecache replaces folders inside "
        "it. It must be a folder of its own, such as .stagecache/cache (stagecache creates and tags it).\n"
    )
    # A folder of the user's choice inside the context must be excluded by its .dockerignore.
    (tmp_path / "stagecache.toml").write_text('[cache]\nlocal_dir = "ci-cache/layers"\n')
    result = runner.invoke(app, ["bake", "-C", str(tmp_path)])
    assert result.exit_code == 2
    assert "is inside the build context" in result.output and "Add the line 'ci-cache/'" in result.output
    assert not (tmp_path / "ci-cache").exists()


def test_bake_missing_secret_env_exit_2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("STAGECACHE_TEST_NO_SUCH_VAR", raising=False)
    project(tmp_path, '[build.secrets]\ntok = { env = "STAGECACHE_TEST_NO_SUCH_VAR" }\n')
    result = runner.invoke(app, ["bake", "-C", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path / 'stagecache.toml'}: key 'build.secrets.tok': environment variable "
        "STAGECACHE_TEST_NO_SUCH_VAR is not set. Export it before running stagecache.\n"
    )


def test_plan_text_and_json(tmp_path: Path) -> None:
    project(tmp_path, '[project]\nimage = "reg.example.com/app"\n[build.args]\nGITHUB_TOKEN = "ghp_value"\n')
    text = runner.invoke(app, ["plan", "-C", str(tmp_path)])
    assert text.exit_code == 0
    assert f"local dir:  {tmp_path.resolve()}/.stagecache/cache (default)\n" in text.output
    assert "  * build    line 1    image alpine" in text.output
    first = text.output.split("commands:\n", 1)[1].splitlines()
    assert first[0] == "  1. # runtime, importing every stage's cache, exporting nothing ([build].fast_path)"
    assert "--target runtime" in first[1] and "--cache-to" not in first[1]
    assert first[2] == (
        "     (when the input records forecast that runtime alone changed, this build also exports its cache and "
        "pushes its image, as its own build below would)"
    )
    assert first[3] == (
        "  then only for the stages whose cache is not known to be current (to export it), or whose image's tags "
        "do not point at the image of a bake with the same inputs (to push it), of these:"
    )
    assert first[4] == "  2. # build"
    # [cache].first_export = "shared" (registry caches): plan says what the first bake does.
    project(tmp_path, '[project]\nimage = "reg.example.com/app"\n[cache]\nmode = "registry"\nfirst_export = "shared"\n')
    shared_text = runner.invoke(app, ["plan", "-C", str(tmp_path)]).output
    assert "cache:      registry (mode=max), first export shared: " in shared_text
    shared = shared_text.split("commands:\n", 1)[1].splitlines()
    assert shared[3] == (
        '     (first_export = "shared": when runtime and other stages have no cache yet, it exports its cache with '
        "mode=max, whatever registry_mode says, and each other stage without a cache gets a copy of it in the "
        "registry instead of an export)"
    )
    assert shared[4].startswith("  then only")
    # Registry caches with the default first_export: neither line.
    project(tmp_path, '[project]\nimage = "reg.example.com/app"\n[cache]\nmode = "registry"\n')
    per_stage = runner.invoke(app, ["plan", "-C", str(tmp_path)]).output
    assert "first export shared" not in per_stage and "first_export" not in per_stage
    assert per_stage.split("commands:\n", 1)[1].splitlines()[3].startswith("  then only")
    project(tmp_path, '[project]\nimage = "reg.example.com/app"\n[cache]\nmode = "registry"\nfirst_export = "shared"\n')
    local = runner.invoke(app, ["plan", "-C", str(tmp_path), "--cache-mode", "local"]).output
    assert "warning: [cache].first_export = \"shared\" applies only to cache mode 'registry'; with 'local'" in local
    project(tmp_path, '[project]\nimage = "reg.example.com/app"\n[build.args]\nGITHUB_TOKEN = "ghp_value"\n')
    # Read-only: the first build is the whole bake, and plan lists nothing after it.
    read_only = runner.invoke(app, ["plan", "-C", str(tmp_path), "--read-only"])
    after = read_only.output.split("commands:\n", 1)[1].splitlines()
    assert after[2] == "  (read-only: this build is the whole bake)" and not after[3].startswith("  2.")
    assert "  * runtime  line 3    needs build; image alpine" in text.output
    assert "GITHUB_TOKEN=*** docker buildx build" in text.output and "--build-arg GITHUB_TOKEN " in text.output
    assert "ghp_value" not in text.output
    result = runner.invoke(app, ["plan", "-C", str(tmp_path), "--json", "--cache-mode", "registry"])
    data = json.loads(result.output)
    assert data["schema"] == "stagecache.plan/v1"
    assert data["cache"] == {
        "mode": "registry",
        "registry_mode": "max",
        "first_export": "per-stage",
        "read_only": False,
        "branch": None,
        "fallback_branch": None,
        "local_dir": None,
        "local_dir_origin": None,
    }
    assert [b["stage"] for b in data["builds"]] == ["build", "runtime"]
    assert data["builds"][1]["cache_from"] == [
        "type=registry,ref=reg.example.com/app:cache-runtime",
        "type=registry,ref=reg.example.com/app:cache-build",
    ]
    assert "ghp_value" not in result.output


def test_bad_progress_value(tmp_path: Path) -> None:
    project(tmp_path)
    result = runner.invoke(app, ["bake", "-C", str(tmp_path), "--progress", "fancy"])
    assert (result.exit_code, result.output) == (2, "Error: --progress must be auto, tty or plain, not 'fancy'.\n")


def test_help_version_and_plan_do_not_import_python_on_whales_pydantic_or_matplotlib(tmp_path: Path) -> None:
    import subprocess
    import sys

    project(tmp_path)
    code = (
        "import sys\n"
        "from stagecache.cli import app\n"
        "for args in (['--help'], ['--version'], ['plan', '-C', sys.argv[1]], ['bench', '--help']):\n"
        "    try:\n"
        "        app(args, prog_name='stagecache')\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), (args, exc.code)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('python_on_whales', 'pydantic', 'matplotlib'))\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_fresh_runner_refuses_without_allow_prune_and_touches_nothing(tmp_path: Path) -> None:
    project(tmp_path)
    result = runner.invoke(app, ["fresh-runner", "-C", str(tmp_path)], env={"PATH": ""})  # no docker to call
    assert result.exit_code == 2
    assert result.output == (
        "Error: fresh-runner prunes the builder's whole build cache (`docker buildx prune --all`), every "
        "project's, not only this one's. Run it where that is fine and pass --allow-prune (or set "
        "[bench].allow_prune = true for a dedicated builder).\n"
    )


def test_a_local_cache_folder_that_cannot_be_made_is_exit_3_naming_it(tmp_path: Path) -> None:
    project(tmp_path, '[cache]\nlocal_dir = "/proc/stagecache-nope/cache"\n')
    result = runner.invoke(app, ["bake", "-C", str(tmp_path), "--progress", "plain"])
    assert result.exit_code == 3, result.output
    assert result.output == (
        "Error: the local cache folder cannot be used: No such file or directory (/proc/stagecache-nope). Check "
        "that folder's owner, permissions and free space, or set [cache].local_dir to another folder.\n"
    )


def test_doctor_says_which_checks_a_failure_skipped(tmp_path: Path) -> None:
    project(tmp_path)
    result = runner.invoke(app, ["doctor", "-C", str(tmp_path)], env={"PATH": str(tmp_path / "empty")})
    assert result.exit_code == 3
    lines = result.output.splitlines()
    assert [ln.split()[0] for ln in lines[2:8]] == ["FAIL", "fix:", "SKIP", "SKIP", "SKIP", "SKIP"]
    assert lines[4:8] == [
        "SKIP  daemon        not checked: needs docker CLI",
        "SKIP  buildx        not checked: needs docker CLI",
        "SKIP  builder       not checked: needs docker CLI",
        "SKIP  build checks  not checked: needs docker CLI",
    ]
