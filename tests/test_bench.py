"""bench without an engine: option resolution, refusals, per-strategy configs,
edits on the copy, and the table / Markdown / JSON renderings of a result."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stagecache import bench, benchreport
from stagecache import config as cfg
from stagecache.cli import app
from stagecache.errors import ConfigError, UsageError
from stagecache.explain import Miss
from stagecache.report import StageResult, StepResult
from stagecache.strategies import STRATEGIES, Scenario

DOCKERFILE = "FROM alpine AS build\nWORKDIR /src\nRUN make deps\nCOPY main.c .\nRUN make\n"
DOCKERFILE += "FROM alpine AS runtime\nCOPY motd.txt /etc/motd\nCOPY --from=build /a /a\n"
EDITS = (
    "[bench.edits]\n"
    'cold-edit-source = { file = "main.c", append = "// edit" }\n'
    'cold-edit-late = { file = "motd.txt", append = "edit" }\n'
)


def project(tmp_path: Path, toml: str = "") -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    (tmp_path / "motd.txt").write_text("hello")  # no trailing newline on purpose
    (tmp_path / ".dockerignore").write_text(".stagecache/\n")
    (tmp_path / "stagecache.toml").write_text(toml)
    return tmp_path


def load(tmp_path: Path, toml: str) -> cfg.Config:
    return cfg.load(project(tmp_path, toml) / "stagecache.toml", env={})


def test_defaults_with_a_registry_run_every_strategy_and_every_declared_scenario(tmp_path: Path) -> None:
    config = load(tmp_path, f'[project]\nimage = "localhost:5000/app"\n{EDITS}')
    options = bench.resolve_options(config, allow_prune=True)
    assert options.strategies == tuple(STRATEGIES)
    assert options.scenarios == ("warm", "cold", "cold-edit-source", "cold-edit-late")
    assert options.layers_scenario == "cold-edit-source"
    assert options.repeat == 1 and options.notes == ()


def test_without_a_registry_only_registry_free_strategies_run_and_a_note_says_why(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    options = bench.resolve_options(config, allow_prune=True)
    assert options.strategies == ("none", "local")
    assert options.scenarios == ("warm", "cold")
    assert "names no registry" in options.notes[0]
    assert "cold-edit-source, cold-edit-late are not run" in options.notes[1]


def test_registry_strategies_without_a_registry_host_are_refused(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    with pytest.raises(UsageError) as info:
        bench.resolve_options(config, strategies=["local", "registry-max", "inline-final"], allow_prune=True)
    assert info.value.message.startswith(
        f"{tmp_path / 'stagecache.toml'}: strategies registry-max, inline-final keep their cache in a registry, "
        "but [project].image (stagecache/"
    )


def test_cold_scenarios_need_allow_prune(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    with pytest.raises(UsageError) as info:
        bench.resolve_options(config)
    assert info.value.message.startswith("scenarios cold simulate a fresh CI runner, which prunes the builder's")
    assert "--allow-prune" in info.value.message
    # warm alone never prunes; the config key is the other way to allow it.
    assert bench.resolve_options(config, scenarios=["warm"]).scenarios == ("warm",)
    allowed = load(tmp_path, "[bench]\nallow_prune = true\n")
    assert bench.resolve_options(allowed).allow_prune


def test_unknown_names_and_missing_edits_are_refused(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    with pytest.raises(UsageError, match="unknown strategy 'registry'; strategies are: none, classic-final"):
        bench.resolve_options(config, strategies=["registry"], allow_prune=True)
    with pytest.raises(UsageError, match="unknown scenario 'hot'"):
        bench.resolve_options(config, scenarios=["hot"], allow_prune=True)
    with pytest.raises(UsageError, match="scenario 'cold-edit-source' has no edit; add it under"):
        bench.resolve_options(config, scenarios=["cold-edit-source"], allow_prune=True)
    gone = load(tmp_path, '[bench.edits]\ncold-edit-x = { file = "nope.c" }\n')
    with pytest.raises(UsageError) as info:
        bench.resolve_options(gone, scenarios=["cold-edit-x"], allow_prune=True)
    assert info.value.message == (
        f"{tmp_path / 'stagecache.toml'}: key 'bench.edits.cold-edit-x.file': nope.c is not a regular file in "
        f"the build context {tmp_path}. bench edits a copy of the context, and only files inside it."
    )


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[bench]\nstrategies = ["registry-maxx"]\n', "key 'bench.strategies[0]': unknown strategy 'registry-maxx'."),
        ("[bench]\nrepeat = 0\n", "key 'bench.repeat': expected a whole number from 1 to 100, got 0."),
        ("[bench]\nrepeat = true\n", "key 'bench.repeat': expected a whole number from 1 to 100, got True."),
        ('[bench]\nscenarios = ["cold-edit-x"]\n', "key 'bench.scenarios[0]': scenario 'cold-edit-x' needs an edit"),
        ('[bench.edits]\nedit = { file = "a" }\n', "key 'bench.edits.edit': an edit's name is its scenario"),
        ('[bench.edits]\ncold-edit-a = { file = "../a" }\n', "must be a relative path inside the build context."),
        ('[bench.edits]\ncold-edit-a = { file = "a", append = "x\\ny" }\n', "must be a single line."),
        ('[bench.edits]\ncold-edit-a = { file = "a", prepend = "x" }\n', "key 'bench.edits.cold-edit-a.prepend'"),
        ("[bench]\nallow_prune = 1\n", "key 'bench.allow_prune': expected true or false"),
    ],
)
def test_bench_config_errors_name_the_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, toml)
    assert info.value.message.startswith(f"{tmp_path / 'stagecache.toml'}: ")
    assert message in info.value.message


def test_each_strategy_builds_in_its_own_namespace_and_never_writes_the_users_tags(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[project]\nimage = "localhost:5000/app"\ntags = ["localhost:5000/app:latest"]\n'
        '[cache]\nref = "localhost:5000/shared-cache:{stage}"\n'
        '[stages.build]\ntags = ["localhost:5000/app:build-latest"]\n',
    )
    work = tmp_path / "work"
    c = bench.strategy_config(config, STRATEGIES["registry-min"], work, work / "context", work / "context/Dockerfile")
    assert c.image == "localhost:5000/app/bench-registry-min"
    assert c.tags == () and c.stages == ()
    assert (c.cache.mode, c.cache.registry_mode) == ("registry", "min")
    assert c.cache.ref == cfg.DEFAULT_REF_TEMPLATE and c.cache.tag == cfg.DEFAULT_TAG_TEMPLATE
    assert c.cache.local_dir == work / "cache" / "registry-min"
    assert c.context == work / "context"


def test_edits_apply_to_the_copy_with_a_unique_line_and_are_restored(tmp_path: Path) -> None:
    config = load(tmp_path, EDITS)
    original = (tmp_path / "motd.txt").read_bytes()
    ws = bench._copy_context(config, tmp_path.parent / f"{tmp_path.name}-work", config.bench.edits)
    edit = config.bench.edit("cold-edit-late")
    assert edit is not None
    bench._apply_edit(ws, edit, "t1")
    bench._apply_edit(ws, edit, "t2")
    assert (ws.context / "motd.txt").read_text() == "hello\nedit t1\nedit t2\n"
    assert (tmp_path / "motd.txt").read_bytes() == original
    bench._restore(ws)
    assert (ws.context / "motd.txt").read_bytes() == original


def test_scenarios_parse() -> None:
    assert Scenario.parse("cold") == Scenario("cold", fresh_runner=True, edit=False)
    assert Scenario.parse("warm-edit-docs") == Scenario("warm-edit-docs", fresh_runner=False, edit=True)
    with pytest.raises(ValueError):
        Scenario.parse("cold-edit-")


def _step(stage: str, n: int, cached: bool, seconds: float = 0.0, line: int | None = None) -> StepResult:
    return StepResult(stage, n, f"RUN step {n}", line, cached, seconds)


def _result() -> bench.BenchResult:
    options = bench.BenchOptions(strategies=("local", "inline-final"), scenarios=("cold",), layers_scenario="cold")

    def run(strategy: str, seconds: float, hit: bool) -> bench.Run:
        miss = None if hit else Miss(3, 5, "RUN step 3", "files", "files changed: a.c")
        stages = (
            StageResult(
                "build",
                "built",
                seconds,
                (_step("build", 2, True, line=3), _step("build", 3, hit, 4.0, 5)),
                first_miss=miss,
            ),
            StageResult("runtime", "built", 0.5, (_step("runtime", 2, True, line=7),), export_seconds=0.25),
        )
        return bench.Run(strategy, "cold", 1, "success", seconds, stages)

    return bench.BenchResult(
        status="complete",
        target="runtime",
        dockerfile="/p/Dockerfile",
        stage_order=("build", "runtime"),
        options=options,
        outcomes=(
            bench.StrategyOutcome(STRATEGIES["local"], "x/bench-local", 2_100_000, "/tmp/c", engine="default"),
            bench.StrategyOutcome(STRATEGIES["inline-final"], "x/bench-inline-final", 1_100_000, "x", engine="other"),
        ),
        runs=(run("local", 1.5, True), run("inline-final", 5.0, False)),
        wall_seconds=10.0,
        docker_seconds=9.5,
        own_cpu_seconds=0.5,
        engine={"docker": "26.1.5", "buildx": "0.13.1"},
    )


def test_table_marks_the_fastest_cell_and_reports_overhead() -> None:
    text = benchreport.render(_result(), layers=True)
    lines = text.splitlines()
    assert lines[0].split() == ["strategy", "cold", "cache", "size", "export", "engine"]
    assert lines[2].split() == ["local", "*100%", "/", "1.5s", "2.1", "MB", "0.2s", "default"]
    assert lines[3].split() == ["inline-final", "67%", "/", "5.0s", "1.1", "MB", "0.2s", "other"]
    noted = benchreport.render(dataclasses.replace(_result(), engine_notes=("the engine note",)))
    assert noted.splitlines()[0] == "note: the engine note"
    assert "stagecache's own CPU 0.5s (5.0% of the wall time)" in text
    layer_rows = [ln.split() for ln in lines[lines.index("layers, scenario cold:") + 3 :]]
    assert layer_rows == [
        ["build", "3", "RUN", "step", "2", "hit", "hit"],
        ["build", "5", "RUN", "step", "3", "hit", "MISS", "4.0s", "files"],
        ["runtime", "7", "RUN", "step", "2", "hit", "hit"],
    ]


def test_markdown_and_json() -> None:
    result = _result()
    md = benchreport.to_markdown(result)
    assert "| local | **100% / 1.5s** | 2.1 MB | 0.2s |" in md
    assert "| build | 5 | RUN step 3 | hit | miss 4.0s files |" in md
    data = json.loads(json.dumps(benchreport.to_json(result)))
    assert data["schema"] == "stagecache.bench/v1"
    cell = next(c for c in data["cells"] if c["strategy"] == "inline-final")
    assert cell["hit_ratio"] == pytest.approx(2 / 3)
    assert cell["seconds"] == {"median": 5.0, "min": 5.0, "max": 5.0}
    assert data["layers"]["cold"][1]["strategies"]["inline-final"] == {
        "cached": False,
        "seconds": 4.0,
        "cause": "files",
    }
    assert data["timing"]["overhead_ratio"] == pytest.approx(0.05)
    assert data["strategies"][0]["cache_bytes"] == 2_100_000


def test_cli_bench_refuses_to_prune_without_permission(tmp_path: Path) -> None:
    project(tmp_path)
    result = CliRunner().invoke(app, ["bench", "-C", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (
        "Error: scenarios cold simulate a fresh CI runner, which prunes the builder's whole build cache "
        "(`docker buildx prune --all`) and removes the bench's images. On a shared engine that destroys other "
        "people's cache. Run it where that is fine and pass --allow-prune (or set [bench].allow_prune = true for "
        "a dedicated builder), or run only --scenario warm.\n"
    )


def test_cli_bench_chart_needs_png_or_svg(tmp_path: Path) -> None:
    project(tmp_path)
    result = CliRunner().invoke(app, ["bench", "-C", str(tmp_path), "--chart", str(tmp_path / "c.jpg")])
    assert result.exit_code == 2
    assert result.output == f"Error: --chart {tmp_path / 'c.jpg'}: the file name must end in .png or .svg.\n"


@pytest.mark.parametrize(
    ("append", "line"),
    [
        ("// edit", "// edit T"),
        ("/* edit */", "/* edit T */"),
        ("<!-- edit -->", "<!-- edit T -->"),
        ("# edit {token} here", "# edit T here"),
    ],
)
def test_the_unique_token_keeps_a_comment_a_comment(append: str, line: str) -> None:
    assert bench.edit_line(append, "T") == line


def test_bake_variants_get_a_valid_repository_of_their_own(tmp_path: Path) -> None:
    from stagecache import strategies

    config = load(tmp_path, '[project]\nimage = "localhost:5000/app"\n')
    options = bench.resolve_options(
        config, strategies=["local", "classic-stages"], executions=["per-stage", "bake"], allow_prune=True
    )
    assert options.strategies == ("local", "classic-stages", "local+bake")
    assert any("classic strategies run per stage only" in n for n in options.notes)
    work = tmp_path / "w"
    c = bench.strategy_config(config, strategies.get("local+bake"), work, work / "context", work / "Dockerfile")
    assert c.image == "localhost:5000/app/bench-local-bake" and c.execution == "bake"


def test_an_edit_behind_a_symbolic_link_never_reaches_the_users_files(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere"  # the user's real folder, outside the build context
    real.mkdir()
    (real / "lib.c").write_text("int lib;\n")
    root = tmp_path / "project"
    root.mkdir()
    (root / "vendor").mkdir()
    (root / "vendor" / "v.c").write_text("int v;\n")
    (root / "out").symlink_to(real)  # leaves the context
    (root / "abs").symlink_to(root / "vendor")  # absolute: in a copy it still points at the original
    (root / "rel").symlink_to("vendor")  # relative: in a copy it points into the copy
    edits = (
        "[bench.edits]\n"
        'cold-edit-out = { file = "out/lib.c", append = "// edit" }\n'
        'cold-edit-abs = { file = "abs/v.c", append = "// edit" }\n'
        'cold-edit-rel = { file = "rel/v.c", append = "// edit" }\n'
    )
    config = load(root, edits)
    with pytest.raises(UsageError) as info:
        bench.resolve_options(config, scenarios=("cold-edit-out",))
    assert "out/lib.c is not a regular file in the build context" in str(info.value)
    assert "(the path leaves it through a symbolic link)" in str(info.value)
    before = {p: p.read_bytes() for p in (real / "lib.c", root / "vendor" / "v.c")}
    work = tmp_path / "work"
    abs_edit, rel_edit = config.bench.edit("cold-edit-abs"), config.bench.edit("cold-edit-rel")
    assert abs_edit is not None and rel_edit is not None
    with pytest.raises(UsageError) as info:
        bench._copy_context(config, work, [abs_edit])
    assert "goes through a symbolic link out of the bench's copy" in str(info.value)
    ws = bench._copy_context(config, tmp_path / "work2", [rel_edit])
    bench._apply_edit(ws, rel_edit, "t1")
    assert (ws.context / "vendor" / "v.c").read_text() == "int v;\n// edit t1\n"
    assert {p: p.read_bytes() for p in before} == before


def test_a_cleanup_that_fails_is_said_and_costs_no_measurement(tmp_path: Path, monkeypatch) -> None:
    from stagecache.errors import EnvironmentProblem

    # A credential store whose helper is not installed (docker-credential-desktop), as on a
    # machine that copied its docker config from a desktop: reading credentials fails.
    docker_config = tmp_path / "docker"
    docker_config.mkdir()
    (docker_config / "config.json").write_text('{"credsStore": "desktop"}')
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
    monkeypatch.setenv("PATH", str(tmp_path / "no-helpers"))

    class DaemonGone:
        def remove_repositories(self, repositories: list[str]) -> None:
            raise EnvironmentProblem("could not list the images of x: the Docker daemon is not reachable")

    root = project(tmp_path, '[project]\nimage = "registry.example.com/team/app"\n')
    config = cfg.load(root / "stagecache.toml", env={})
    cleanup: list[str] = []
    bench._clean_strategy(config, DaemonGone(), cleanup)  # type: ignore[arg-type]
    assert [c.split(":")[0] for c in cleanup] == [
        "could not delete the tags of registry.example.com/team/app",
        "could not remove the local images of registry.example.com/team/app",
    ]
    assert "docker-credential-desktop" in cleanup[0]
