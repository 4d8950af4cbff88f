"""The docs are a test, not a hope: every command has help text and a section of
docs/commands.md naming each of its options, every cache mode has a section of
docs/cache-modes.md, every config key is in docs/configuration.md, every relative link in
the README and docs/ leads somewhere, and the README stays a newcomer's page."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from stagecache import config as configmod
from stagecache.cache import MODES
from stagecache.cli import app
from tests.conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()
COMMANDS = (DOCS / "commands.md").read_text()
CACHE_MODES = (DOCS / "cache-modes.md").read_text()
CONFIGURATION = (DOCS / "configuration.md").read_text()
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def click_commands() -> dict[str, Any]:
    """The commands as typer builds them for click, by name, in the order of --help."""
    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def section(text: str, heading: str) -> str:
    """The text under the heading that matches ``heading`` (a regex for the heading's text),
    up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {heading}[ \t]*$", text, re.M)
    assert match, f"no heading matching {heading!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def option_names(command: Any) -> list[str]:
    """Every long option of ``command`` (a click command, as typer builds it), both sides of a
    ``--x/--no-x`` flag included."""
    return [
        opt
        for param in command.params
        for opt in (*param.opts, *getattr(param, "secondary_opts", ()))
        if opt.startswith("--")
    ]


def test_every_command_has_help_and_a_section_in_the_command_reference() -> None:
    assert sorted(click_commands()) == [
        "bake",
        "bench",
        "doctor",
        "explain",
        "export-bake",
        "fresh-runner",
        "gc",
        "plan",
    ]
    for name, command in click_commands().items():
        assert (command.help or "").strip(), name
        assert re.search(rf"^## `stagecache {re.escape(name)}`$", COMMANDS, re.M), name


def test_every_option_of_every_command_is_named_in_its_section() -> None:
    for name, command in click_commands().items():
        text = section(COMMANDS, rf"`stagecache {re.escape(name)}`")
        for opt in option_names(command):
            assert re.search(rf"[`/]{re.escape(opt)}[`/ =]", text), (name, opt)


def test_every_cache_mode_has_a_section() -> None:
    assert set(MODES) == {"registry", "inline", "local", "classic", "none"}
    for mode in MODES:
        assert re.search(rf"^## `{mode}`$", CACHE_MODES, re.M), mode


CONFIG_TABLES = {
    "[project]": configmod._PROJECT_KEYS,
    "[cache]": configmod._CACHE_KEYS,
    "[build]": configmod._BUILD_KEYS,
    "[build.secrets]": configmod._SECRET_KEYS,
    "[stages.NAME]": configmod._STAGE_KEYS,
    "[bench]": configmod._BENCH_KEYS,
    "[bench.edits]": configmod._EDIT_KEYS,
}
"""Every key the config accepts (config.py's own tables), by the heading of its section in
docs/configuration.md. [build.args] names the user's own build args: no keys of ours."""


def _example_keys() -> dict[str, set[str]]:
    """Every key stagecache.toml.example sets, by table."""
    example = tomllib.loads((ROOT / "stagecache.toml.example").read_text())
    return {f"[{table}]": set(values) for table, values in example.items()}


def test_every_config_key_is_documented_in_its_section() -> None:
    keys = {table: set(names) for table, names in CONFIG_TABLES.items()}
    for table, names in _example_keys().items():
        keys.setdefault(table, set()).update(names)
    for table, names in keys.items():
        text = section(CONFIGURATION, rf"`{re.escape(table)}`")
        for key in sorted(names):
            assert f"| `{key}` |" in text, (table, key)
    section(CONFIGURATION, re.escape("`[build.args]`"))


def test_the_example_config_sets_only_keys_the_config_accepts() -> None:
    for table, names in _example_keys().items():
        assert names <= set(CONFIG_TABLES[table]), table


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as '-'."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#+ (.+?)\s*$", _without_fences(page.read_text()), re.M):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _without_fences(text: str) -> str:
    """The Markdown without its fenced code blocks."""
    return re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.M | re.S)


def _without_code(text: str) -> str:
    """The Markdown without code blocks and inline code spans (no link lives in code)."""
    return re.sub(r"`[^`\n]*`", "", _without_fences(text))


def _links(page: Path) -> list[str]:
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", _without_code(page.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_and_anchor_that_exist(page: Path) -> None:
    for link in _links(page):
        if re.match(r"[a-z]+:", link):  # https:, mailto:
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), (page.name, link)
        if anchor:
            assert target.suffix == ".md", (page.name, link)
            assert anchor in _anchors(target), (page.name, link, sorted(_anchors(target)))


def test_the_readme_links_every_reference_page_and_stays_short() -> None:
    for page in sorted(DOCS.glob("*.md")):
        assert f"](docs/{page.name})" in README, page.name
    assert len(README.encode()) < 15_000


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
        "explain",
        "bake",
        "export-bake",
        "fresh-runner",
        "doctor",
        "bench",
        "gc",
    ]
    assert all(len(ln) <= 80 and not ln.rstrip().endswith("...") for ln in listed), listed


EXIT_CODE_ROW = re.compile(r"^\| (\d+|128\+N) \|", re.M)


def test_bake_help_ends_with_an_example_and_the_exit_codes_of_the_readme() -> None:
    """The exit codes of `bake --help` are those of the one exit-code table, which moved from the
    README to docs/commands.md (the README links it)."""
    from typer.testing import CliRunner

    out = CliRunner().invoke(app, ["bake", "--help"], terminal_width=80).output
    assert "Examples:\n    stagecache bake " in out
    codes = re.findall(r"^    (\d+|128\+N) ", out.split("Exit codes:", 1)[1], re.M)
    assert codes == ["0", "1", "2", "3", "4", "5", "70", "128+N"]
    table = EXIT_CODE_ROW.findall(section(COMMANDS, "Exit codes"))
    assert table == codes
    # One exit-code table in the README and docs: docs/commands.md's.
    assert [p.name for p in PAGES if re.search(r"^\| 128\+N \|", p.read_text(), re.M)] == ["commands.md"]
