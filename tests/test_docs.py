"""Every command has help text and is documented in the README."""

from __future__ import annotations

import re

import typer

from stagecache.cli import app
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def commands() -> list[str]:
    return [c.name or c.callback.__name__ for c in app.registered_commands]


def test_every_command_has_help_and_a_readme_section() -> None:
    assert sorted(commands()) == ["bake", "bench", "doctor", "export-bake", "fresh-runner", "plan"]
    for cmd in app.registered_commands:
        assert (cmd.callback.__doc__ or "").strip(), cmd.name
        name = cmd.name or cmd.callback.__name__
        assert re.search(rf"^#+ .*`stagecache {name}`", README, re.M), name


def test_every_option_is_documented() -> None:
    click_app = typer.main.get_command(app)
    for name, command in click_app.commands.items():
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert f"`{opt}" in README or f"{opt}`" in README or opt in README, (name, opt)


def test_every_cache_mode_has_a_readme_section() -> None:
    for mode in ("registry", "inline", "local", "classic", "none"):
        assert re.search(rf"^### `{mode}`", README, re.M), mode


def test_readme_setup_is_two_commands() -> None:
    setup = README.split("## Set-up", 1)[1].split("```", 2)[1]
    lines = [ln for ln in setup.splitlines()[1:] if ln.strip() and not ln.startswith("#")]
    assert lines == ["make install", "make test"]


def test_the_command_list_is_one_whole_line_per_command() -> None:
    from typer.testing import CliRunner

    out = CliRunner().invoke(app, ["--help"], terminal_width=80).output
    listed = out.split("Commands:\n", 1)[1].splitlines()
    assert [ln.split()[0] for ln in listed if ln.strip()] == [
        "plan",
        "bake",
        "export-bake",
        "fresh-runner",
        "doctor",
        "bench",
    ]
    assert all(len(ln) <= 80 and not ln.rstrip().endswith("...") for ln in listed), listed


def test_bake_help_ends_with_an_example_and_the_exit_codes_of_the_readme() -> None:
    from typer.testing import CliRunner

    out = CliRunner().invoke(app, ["bake", "--help"], terminal_width=80).output
    assert "Examples:\n    stagecache bake " in out
    codes = re.findall(r"^    (\d+|128\+N) ", out.split("Exit codes:", 1)[1], re.M)
    assert codes == ["0", "1", "2", "3", "4", "5", "70", "128+N"]
    table = set(re.findall(r"^\| (\d+|128\+N) \|", README, re.M))
    assert table == set(codes)
