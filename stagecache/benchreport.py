"""Bench results as a terminal table, JSON (schema ``stagecache.bench/v1``),
Markdown (for a CI job summary or docs) and a bar chart (matplotlib, optional)."""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stagecache.bench import BenchResult, Cell, engine_versions
from stagecache.errors import EnvironmentProblem, StagecacheError, UsageError
from stagecache.report import render_table, write_file

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec
    from matplotlib.text import Text

BENCH_SCHEMA = "stagecache.bench/v1"
CHART_SUFFIXES = (".png", ".svg")


def _cell_text(cell: Cell) -> str:
    if not cell.runs:
        return "-"
    if not cell.ok:
        return cell.runs[-1].status
    ratio = cell.hit_ratio
    seconds = cell.seconds
    assert seconds is not None
    pct = "-" if ratio is None else f"{ratio * 100:.0f}%"
    return f"{pct} / {seconds[0]:.1f}s"


def size_text(n: int | None) -> str:
    """Bytes as people read them: 512 B, 1.5 kB, 12.3 MB, 1.2 GB (powers of 1000)."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _export(result: BenchResult, strategy: str) -> str:
    runs = [r for r in result.runs if r.strategy == strategy and r.status == "success" and r.scenario != "populate"]
    if not runs:
        return "-"
    values = sorted(r.export_seconds for r in runs)
    return f"{values[len(values) // 2]:.1f}s"


def _matrix(result: BenchResult, mark: tuple[str, str]) -> tuple[list[str], list[list[str]]]:
    scenarios = result.options.scenarios
    header = ["strategy", *scenarios, "cache size", "export", "engine"]
    rows = []
    for o in result.outcomes:
        name = o.strategy.name
        cells = []
        for scenario in scenarios:
            text = _cell_text(result.cell(name, scenario))
            if result.best(scenario) == name:
                text = f"{mark[0]}{text}{mark[1]}"
            cells.append(text)
        rows.append([name, *cells, size_text(o.cache_bytes), _export(result, name), o.engine or "-"])
    return header, rows


def render(result: BenchResult, layers: bool = False) -> str:
    """The terminal summary: strategies x scenarios (hit % / median seconds; * = fastest)."""
    header, rows = _matrix(result, ("*", ""))
    lines = [f"note: {n}" for n in result.engine_notes]
    lines.append(render_table(rows, header, right=tuple(range(1, len(header) - 1))))
    lines.append("cells: cache hits / median wall seconds of the measured bake; * = fastest in its column.")
    for o in result.outcomes:
        if o.error:
            lines.append(f"{o.strategy.name}: FAILED {o.error.splitlines()[0]}")
    lines.append(_timing(result))
    lines += [f"warning: {n}" for n in result.options.notes if n.startswith("could not ")]  # a failed cleanup
    if layers:
        lines += ["", f"layers, scenario {result.options.layers_scenario}:", render_layers(result)]
    if result.status == "interrupted":
        lines.append("interrupted: the figures above are what was measured before Ctrl-C.")
    return "\n".join(lines)


def _timing(result: BenchResult) -> str:
    ratio = result.overhead_ratio
    pct = "-" if ratio is None else f"{ratio * 100:.1f}%"
    return (
        f"bench wall time {result.wall_seconds:.1f}s, docker commands running {result.docker_seconds:.1f}s; "
        f"stagecache's own CPU {result.overhead_seconds:.1f}s ({pct} of the wall time)."
    )


def _layer_rows(result: BenchResult, hit: str, miss: str) -> tuple[list[str], list[list[str]]]:
    names = [o.strategy.name for o in result.outcomes]
    header = ["stage", "line", "instruction", *names]
    rows = []
    scenario = result.options.layers_scenario
    for stage, number, line, text, cells in result.layers(scenario):
        row = [stage, "" if line is None else str(line), " ".join(text.split())[:48]]
        for name in names:
            st = cells.get(name)
            cause = result.cause(name, scenario, stage, number) if st is not None and not st.cached else ""
            row.append("" if st is None else (hit if st.cached else f"{miss} {st.seconds:.1f}s {cause}".rstrip()))
        rows.append(row)
    return header, rows


def render_layers(result: BenchResult) -> str:
    """One row per instruction, one column per strategy: hit, or miss with its seconds."""
    header, rows = _layer_rows(result, "hit", "MISS")
    return render_table(rows, header)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    out = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def to_markdown(result: BenchResult, title: str = "stagecache bench") -> str:
    """A Markdown report: the matrix (fastest in bold), the layer comparison, versions, timing."""
    header, rows = _matrix(result, ("**", "**"))
    parts = [
        f"### {title}",
        "",
        f"Target `{result.target}` of `{Path(result.dockerfile).name}`; {result.options.repeat} measured run(s) "
        "per cell. Cells: cache hits / median wall seconds; **bold** = fastest in the column.",
        "",
        *[f"_Note: {n}_\n" for n in result.engine_notes],
        _md_table(header, rows),
        "",
        f"#### Layer by layer, scenario `{result.options.layers_scenario}`",
        "",
        _md_table(*_layer_rows(result, "hit", "miss")),
        "",
        f"Engine: {engine_versions(result)}.",
        "",
        _timing(result),
    ]
    failed = [o for o in result.outcomes if o.error]
    if failed:
        parts += ["", *[f"- `{o.strategy.name}` failed: {o.error.splitlines()[0]}" for o in failed]]
    if result.status == "interrupted":
        parts += ["", "_Interrupted: these are the runs measured before Ctrl-C._"]
    return "\n".join(parts) + "\n"


def to_json(result: BenchResult) -> dict:
    """The result as a JSON-ready dict (schema ``stagecache.bench/v1``, documented in docs/schemas.md)."""
    cells = []
    for o in result.outcomes:
        for scenario in result.options.scenarios:
            c = result.cell(o.strategy.name, scenario)
            seconds = c.seconds
            cells.append(
                {
                    "strategy": o.strategy.name,
                    "scenario": scenario,
                    "ok": c.ok,
                    "hit_ratio": c.hit_ratio,
                    "seconds": None
                    if seconds is None
                    else {"median": seconds[0], "min": seconds[1], "max": seconds[2]},
                }
            )
    runs = [
        {
            "strategy": r.strategy,
            "scenario": r.scenario,
            "run": r.index,
            "status": r.status,
            "seconds": round(r.seconds, 3),
            "steps": r.steps,
            "cached": r.cached,
            "executed": r.steps - r.cached,
            "export_seconds": round(r.export_seconds, 3),
            "error": r.error or None,
            "stages": [
                {
                    "stage": s.stage,
                    "status": s.status,
                    "steps": len(s.steps),
                    "cached": s.cached,
                    "executed": s.executed,
                    "seconds": s.seconds,
                    "export_seconds": s.export_seconds,
                    "built_in": s.built_in,
                }
                for s in r.stages
            ],
        }
        for r in result.runs
    ]
    layers = {}
    for scenario in result.options.scenarios:
        layers[scenario] = [
            {
                "stage": stage,
                "step": number,
                "line": line,
                "instruction": text,
                "strategies": {
                    name: {
                        "cached": st.cached,
                        "seconds": st.seconds,
                        "cause": result.cause(name, scenario, stage, number),
                    }
                    for name, st in cells_.items()
                },
            }
            for stage, number, line, text, cells_ in result.layers(scenario)
        ]
    return {
        "schema": BENCH_SCHEMA,
        "status": result.status,
        "target": result.target,
        "dockerfile": result.dockerfile,
        "repeat": result.options.repeat,
        "scenarios": list(result.options.scenarios),
        "strategies": [
            {
                **asdict(o.strategy),
                "image": o.image,
                "cache_bytes": o.cache_bytes,
                "cache_location": o.cache_location,
                "error": o.error or None,
                "engine": o.engine,
            }
            for o in result.outcomes
        ],
        "cells": cells,
        "runs": runs,
        "layers": layers,
        "timing": {
            "wall_seconds": round(result.wall_seconds, 3),
            "docker_seconds": round(result.docker_seconds, 3),
            "own_cpu_seconds": round(result.own_cpu_seconds, 3),
            "overhead_seconds": round(result.overhead_seconds, 3),
            "overhead_ratio": result.overhead_ratio,
        },
        "engine": dict(result.engine),
        "notes": [*result.options.notes, *result.engine_notes],
    }


def check_chart_path(path: Path) -> None:
    """Fail before the bench runs if the chart cannot be written (format, matplotlib missing)."""
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise UsageError(f"--chart {path}: the file name must end in .png or .svg.")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise EnvironmentProblem(
            "--chart needs matplotlib, which is not installed. Install it where stagecache is installed: "
            "`pip install matplotlib` in its virtualenv, or `pipx inject stagecache matplotlib`."
        ) from None


CHART_WIDTH = 8.0
"""Inches: 800 px at 100 dpi, the width a CI job summary (GitHub, GitLab) shows an image at.
Every font size of the chart is in points at that width."""
CHART_DPI = 150
"""The PNG is drawn at 1.5 times that (1200 px), so that it stays sharp on high-density screens."""
_FONT = 12.0
_BAR = "#4e79a7"
_FASTEST = "#59a14f"
_FAILED = "#b07aa1"
_LABEL_GAP = 4  # points between a bar and its label


@dataclass(frozen=True)
class _Bar:
    strategy: str
    seconds: float | None  # median; None when the cell has no successful run
    hit_ratio: float | None
    status: str  # "success", else what the table shows instead of figures


def _chart_cells(data: dict) -> dict[str, list[_Bar]]:
    """Per scenario, one bar per strategy (in the bench's order), from a ``stagecache.bench/v1`` dict."""
    status: dict[tuple[str, str], str] = {}  # per cell: "success", else the first other status
    for r in data["runs"]:
        key = (r["strategy"], r["scenario"])
        if status.get(key, "success") == "success":
            status[key] = r["status"]
    cells = {(c["strategy"], c["scenario"]): c for c in data["cells"]}
    out: dict[str, list[_Bar]] = {}
    for scenario in data["scenarios"]:
        bars = out[scenario] = []
        for s in data["strategies"]:
            name = s["name"]
            c = cells.get((name, scenario))
            if c is None or (name, scenario) not in status:
                bars.append(_Bar(name, None, None, "not run"))
            elif c["ok"] and c["seconds"] is not None:
                bars.append(_Bar(name, c["seconds"]["median"], c["hit_ratio"], "success"))
            else:
                bars.append(_Bar(name, None, None, status[(name, scenario)]))
    return out


def _describe(scenario: str) -> str:
    """What a scenario does before the measured bake, in a few words."""
    fresh = scenario.startswith("cold")
    base = "fresh runner" if fresh else "same engine"
    _, sep, edit = scenario.partition("-edit-")
    return f"{base}, after editing '{edit}'" if sep else f"{base}, no change"


def _bar_label(bar: _Bar, fastest: bool) -> str:
    if bar.seconds is None:
        return bar.status
    hits = "no steps" if bar.hit_ratio is None else f"{bar.hit_ratio * 100:.0f}% hits"
    return f"{bar.seconds:.1f} s, {hits}" + (", fastest" if fastest else "")


def chart_figure(data: dict) -> Figure:
    """The chart of a bench result (a ``stagecache.bench/v1`` dict, see :func:`to_json`), sized to
    be read at 800 px wide: one panel per scenario, strategies on the y axis, a horizontal
    bar of median wall seconds each, labelled with its seconds and cache-hit ratio."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    per_scenario = _chart_cells(data)
    scenarios = list(per_scenario) or ["(no scenario)"]
    project = Path(data["dockerfile"]).parent.name or data["dockerfile"]
    runs = data.get("repeat", 1)
    status = "" if data.get("status", "complete") == "complete" else f" ({data['status']})"
    title = f"stagecache bench: {project}, target {data['target']}{status}"
    subtitle = f"Wall seconds, median of {runs} measured bake{'s' if runs != 1 else ''}: lower is better"
    with rc_context({"font.size": _FONT}):
        fig = Figure(figsize=(CHART_WIDTH, 1.0), dpi=CHART_DPI, layout="constrained")
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(len(scenarios), 1)
        layout = _Layout(fig, grid, fig.suptitle("", x=0.01, ha="left", fontsize=_FONT + 2, linespacing=1.35))
        layout.titles[layout.title] = f"{title}\n{subtitle}"
        for i, scenario in enumerate(scenarios):
            panel = fig.add_subfigure(grid[i])
            ax = panel.subplots()  # not sharex: across subfigures, every change would redraw the figure
            bars = per_scenario.get(scenario, [])
            heading = panel.suptitle("", x=0.01, ha="left", fontsize=_FONT + 1, fontweight="bold")
            layout.titles[heading] = f"{scenario}: {_describe(scenario)}"
            layout.panels.append((ax, len(bars), heading))
            layout.labels += _draw_panel(ax, bars)
            if i < len(scenarios) - 1:
                ax.tick_params(axis="x", labelbottom=False)
        ax.set_xlabel("median wall seconds of the measured bake (lower is better)")
        layout.fit()
    return fig


def _draw_panel(ax: Axes, bars: list[_Bar]) -> list[tuple[Axes, float, Text]]:
    """One scenario's bars, each labelled; returns (axes, bar length, label) for :meth:`_Layout.fit`.
    A cell without a successful run has no bar, and its status as the label."""
    timed = [(y, b, b.seconds) for y, b in enumerate(bars) if b.seconds is not None]
    best = min(timed, key=lambda t: t[2])[1] if len(timed) > 1 else None
    ax.barh(
        [y for y, _, _ in timed],
        [seconds for _, _, seconds in timed],
        height=0.62,
        color=[_FASTEST if b is best else _BAR for _, b, _ in timed],
    )
    labels: list[tuple[Axes, float, Text]] = []
    ys = range(len(bars))
    for y, b in zip(ys, bars, strict=True):
        label = ax.annotate(
            _bar_label(b, b is best),
            (b.seconds or 0.0, y),
            xytext=(_LABEL_GAP, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontweight="bold" if b is best else "normal",
            color=_FAILED if b.seconds is None else "black",
        )
        labels.append((ax, b.seconds or 0.0, label))
    ax.set_yticks(list(ys), [b.strategy for b in bars])
    ax.set_ylim(len(bars) - 0.5, -0.5)  # the first strategy on top
    ax.tick_params(axis="y", length=0, labelsize=_FONT)
    ax.tick_params(axis="x", labelsize=_FONT)
    ax.grid(axis="x", color="#dddddd")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return labels


@dataclass
class _Layout:
    """What :meth:`fit` adjusts: the titles' wrapping, the figure's height and the x axis."""

    fig: Figure
    grid: GridSpec
    title: Text
    titles: dict[Text, str] = field(default_factory=dict)  # each title and its unwrapped text
    panels: list[tuple[Axes, int, Text]] = field(default_factory=list)  # each panel, its bar count, its title
    labels: list[tuple[Axes, float, Text]] = field(default_factory=list)  # each label, its bar's length

    def fit(self) -> None:
        """Lay the figure out so that nothing overflows: wrap each title to the figure's width,
        make the figure tall enough for its panels and their titles, and widen the x axis (the
        same in every panel) until every bar's label fits inside its panel. Then freeze that
        layout, so that the file is drawn exactly as measured here."""
        fig = self.fig
        columns = dict.fromkeys(self.titles, 64)
        xmax = max((value for _, value, _ in self.labels), default=0.0) * 1.05 or 1.0
        for _ in range(8):
            for text, words in self.titles.items():
                text.set_text("\n".join(textwrap.fill(line, columns[text]) for line in words.splitlines()))
            self._size()
            for ax, _bars, _heading in self.panels:
                ax.set_xlim(0, xmax)
            fig.draw_without_rendering()
            renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
            wide = [t for t in self.titles if t.get_window_extent(renderer).x1 > fig.bbox.x1 - 4 and columns[t] > 12]
            for text in wide:
                columns[text] -= 6
            need = xmax
            for ax, value, label in self.labels:
                room = ax.bbox.width - label.get_window_extent(renderer).width - (_LABEL_GAP + 4) * fig.dpi / 72
                if room > 0:
                    need = max(need, value * ax.bbox.width / room)
            if not wide and need <= xmax * 1.001:
                break
            xmax = max(xmax, need * 1.02)
        fig.set_layout_engine("none")

    def _size(self) -> None:
        """Inches: 0.34 a bar, 0.26 a title line, and room for the x axis under the last panel."""
        heights = []
        for i, (_ax, bars, heading) in enumerate(self.panels):
            lines = heading.get_text().count("\n") + 1
            heights.append(0.34 * max(1, bars) + 0.26 * lines + 0.3 + (0.6 if i == len(self.panels) - 1 else 0))
        self.grid.set_height_ratios(heights)
        self.fig.set_size_inches(CHART_WIDTH, sum(heights) + 0.3 * (self.title.get_text().count("\n") + 1) + 0.2)


def write_chart(result: BenchResult, path: Path) -> None:
    """Write the chart of ``result`` (.png or .svg), atomically; see :func:`chart_figure`."""
    write_chart_data(to_json(result), path)


def write_chart_data(data: dict, path: Path) -> None:
    """Write the chart of a ``stagecache.bench/v1`` dict (a bench's --json file)."""
    fig = chart_figure(data)
    fmt = path.suffix.lower().lstrip(".")
    write_file(path, lambda fh: fig.savefig(fh, format=fmt, dpi=CHART_DPI, metadata=_metadata(fmt)))


def _metadata(fmt: str) -> dict[str, str | None]:
    """No creation date or software version in the file: the same result gives the same bytes."""
    if fmt == "png":
        return {"Software": None}
    return {"Date": None, "Creator": None}


def main(argv: list[str] | None = None) -> int:
    """``python -m stagecache.benchreport RESULT.json CHART.png``: redraw the chart of a bench's --json file
    (docs/benchmarks/gcc.png is drawn from docs/benchmarks/gcc.json so)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0].startswith("-"):
        print(
            "usage: python -m stagecache.benchreport RESULT.json CHART.png|CHART.svg\n"
            "Draws the chart of a `stagecache bench --json` result file, as `bench --chart` does.",
            file=sys.stderr,
        )
        return 2
    source, chart = Path(args[0]), Path(args[1])
    try:
        check_chart_path(chart)
        data = json.loads(source.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("schema") != BENCH_SCHEMA:
            raise UsageError(f"{source} is not a bench result (schema {BENCH_SCHEMA}).")
        write_chart_data(data, chart)
    except (OSError, ValueError) as exc:
        print(f"Error: cannot read {source}: {exc}", file=sys.stderr)
        return 2
    except StagecacheError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
