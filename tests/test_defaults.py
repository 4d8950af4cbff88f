"""The embedded default on a plain project (a Dockerfile, no stagecache.toml, no .dockerignore):
the local cache goes where the build context never sends it, and nothing is pushed to or
pulled from a registry the user did not name. No engine needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stagecache.cli import app

runner = CliRunner()
DOCKERFILE = "FROM alpine AS build\nRUN make\nFROM alpine AS runtime\nCOPY --from=build /a /a\n"


def plain(tmp_path: Path, toml: str = "") -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "Dockerfile").write_text(DOCKERFILE)
    if toml:
        (root / "stagecache.toml").write_text(toml)
    return root


def test_a_plain_project_plans_its_local_cache_outside_the_context(tmp_path: Path) -> None:
    root = plain(tmp_path)
    result = runner.invoke(app, ["plan", "-C", str(root)], env={"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("local dir:"))
    assert line.startswith(f"local dir:  {tmp_path / 'xdg' / 'stagecache'}/shop-")
    assert line.endswith(
        "(default outside the project: no .dockerignore line keeps .stagecache/cache out of the build context)"
    )
    assert str(root) + "/.stagecache" not in result.output
    assert sorted(p.name for p in root.iterdir()) == ["Dockerfile"]  # plan writes nothing


@pytest.mark.parametrize(
    ("args", "toml", "why"),
    [
        (["-m", "registry"], "", "cache mode 'registry' (from --cache-mode) keeps its cache in a registry"),
        ([], '[cache]\nmode = "inline"\n', "cache mode 'inline' keeps its cache in a registry"),
        (
            ["-m", "classic", "--read-only"],
            "",
            "cache mode 'classic' (from --cache-mode) keeps its cache in a registry",
        ),
        (["--push"], "", "this bake pushes stage 'build'"),
        ([], "[stages.runtime]\npush = true\n", "this bake pushes stage 'runtime'"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "bake"])
def test_a_registry_is_never_chosen_for_the_user(tmp_path: Path, command: str, args, toml: str, why: str) -> None:
    root = plain(tmp_path, toml)
    result = runner.invoke(app, [command, "-C", str(root), *args])
    assert result.exit_code == 2, result.output
    if toml:
        source = root / "stagecache.toml"
        fix = f"Add the line 'image = \"registry.example.com/team/shop\"' under [project] in {source}"
    else:
        source = "the embedded default configuration"
        fix = (
            f"Create {root / 'stagecache.toml'} with the two lines '[project]' and "
            "'image = \"registry.example.com/team/shop\"'"
        )
    assert result.output == (
        f"Error: {source}: {why}, but [project].image is not set, and the default stagecache/shop would be a "
        f"repository on Docker Hub. {fix}, naming a repository you can push to, then run again.\n"
    )
    assert not (root / ".stagecache").exists()


@pytest.mark.parametrize("toml", ['[project]\nimage = "reg.example.com/shop"\n', '[project]\nimage = "team/shop"\n'])
def test_an_image_the_user_named_is_used_even_on_docker_hub(tmp_path: Path, toml: str) -> None:
    root = plain(tmp_path, toml)
    result = runner.invoke(app, ["plan", "-C", str(root), "-m", "registry"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("mode", ["local", "none"])
def test_modes_that_stay_on_the_machine_need_no_image(tmp_path: Path, mode: str) -> None:
    root = plain(tmp_path)
    result = runner.invoke(app, ["plan", "-C", str(root), "-m", mode], env={"XDG_CACHE_HOME": str(tmp_path / "x")})
    assert result.exit_code == 0, result.output


def test_a_home_reached_through_a_link_still_gets_the_default_cache(tmp_path: Path) -> None:
    from stagecache import config as cfg
    from stagecache.plan import make_plan
    from stagecache.preflight import check_local_dir

    (tmp_path / "var" / "home" / "u").mkdir(parents=True)
    (tmp_path / "home").symlink_to(tmp_path / "var" / "home")  # as /home -> /var/home on Fedora Silverblue
    root = plain(tmp_path)
    config = cfg.load(None, root=root, env={"HOME": str(tmp_path / "home" / "u")})
    assert config.cache.local_dir.parent == tmp_path / "var" / "home" / "u" / ".cache" / "stagecache"
    check_local_dir(make_plan(config))  # no link on the way: accepted


def test_export_bake_warns_that_the_default_cache_folder_is_this_machine_s(tmp_path: Path) -> None:
    root = plain(tmp_path)
    out = tmp_path / "docker-bake.json"
    result = runner.invoke(app, ["export-bake", str(out), "-C", str(root)], env={"XDG_CACHE_HOME": str(tmp_path / "x")})
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"warning: the local cache folder is {tmp_path / 'x' / 'stagecache'}/shop-")
    assert "set [cache].local_dir" in result.output and out.is_file()


def test_the_refusal_names_the_environment_variable_that_chose_the_mode(tmp_path: Path) -> None:
    root = plain(tmp_path)
    result = runner.invoke(app, ["plan", "-C", str(root)], env={"STAGECACHE_CACHE_MODE": "registry"})
    assert result.exit_code == 2, result.output
    assert result.output.startswith(
        "Error: the embedded default configuration: cache mode 'registry' (from STAGECACHE_CACHE_MODE) keeps its "
        "cache in a registry, but [project].image is not set"
    )


@pytest.mark.parametrize(
    ("local_dir", "said"), [("/", "key 'cache.local_dir' is /;"), ("cachedir", "Add the line 'cachedir/'")]
)
def test_plan_refuses_a_local_cache_folder_that_bake_would_refuse(tmp_path: Path, local_dir: str, said: str) -> None:
    root = plain(tmp_path, f'[cache]\nlocal_dir = "{local_dir}"\n')
    for command in ("plan", "bake"):
        result = runner.invoke(app, [command, "-C", str(root)])
        assert result.exit_code == 2 and said in result.output, (command, result.output)
    assert not (root / "cachedir").exists()
