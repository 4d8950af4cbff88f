"""Bench results as a terminal table, JSON (schema ``stagecache.bench/v1``),
Markdown (for a CI job summary or docs) and a bar chart (matplotlib, optional)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from stagecache.bench import BenchResult, Cell, engine_versions
from stagecache.errors import EnvironmentProblem, UsageError
from stagecache.report import render_table

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


def _size(n: int | None) -> str:
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
    header = ["strategy", *scenarios, "cache size", "export"]
    rows = []
    for o in result.outcomes:
        name = o.strategy.name
        cells = []
        for scenario in scenarios:
            text = _cell_text(result.cell(name, scenario))
            if result.best(scenario) == name:
                text = f"{mark[0]}{text}{mark[1]}"
            cells.append(text)
        rows.append([name, *cells, _size(o.cache_bytes), _export(result, name)])
    return header, rows


def render(result: BenchResult, layers: bool = False) -> str:
    """The terminal summary: strategies x scenarios (hit % / median seconds; * = fastest)."""
    header, rows = _matrix(result, ("*", ""))
    lines = [render_table(rows, header, right=tuple(range(1, len(header))))]
    lines.append("cells: cache hits / median wall seconds of the measured bake; * = fastest in its column.")
    for o in result.outcomes:
        if o.error:
            lines.append(f"{o.strategy.name}: FAILED {o.error.splitlines()[0]}")
    lines.append(_timing(result))
    if layers:
        lines += ["", f"layers, scenario {result.options.layers_scenario}:", render_layers(result)]
    if result.status == "interrupted":
        lines.append("interrupted: the figures above are what was measured before Ctrl-C.")
    return "\n".join(lines)


def _timing(result: BenchResult) -> str:
    ratio = result.overhead_ratio
    pct = "-" if ratio is None else f"{ratio * 100:.1f}%"
    return (
        f"bench wall time {result.wall_seconds:.1f}s, of which docker {result.docker_seconds:.1f}s; "
        f"stagecache's own overhead {result.overhead_seconds:.1f}s ({pct})."
    )


def _layer_rows(result: BenchResult, hit: str, miss: str) -> tuple[list[str], list[list[str]]]:
    names = [o.strategy.name for o in result.outcomes]
    header = ["stage", "line", "instruction", *names]
    rows = []
    for stage, _number, line, text, cells in result.layers(result.options.layers_scenario):
        row = [stage, "" if line is None else str(line), " ".join(text.split())[:48]]
        for name in names:
            st = cells.get(name)
            row.append("" if st is None else (hit if st.cached else f"{miss} {st.seconds:.1f}s"))
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
                "strategies": {name: {"cached": st.cached, "seconds": st.seconds} for name, st in cells_.items()},
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
            }
            for o in result.outcomes
        ],
        "cells": cells,
        "runs": runs,
        "layers": layers,
        "timing": {
            "wall_seconds": round(result.wall_seconds, 3),
            "docker_seconds": round(result.docker_seconds, 3),
            "overhead_seconds": round(result.overhead_seconds, 3),
            "overhead_ratio": result.overhead_ratio,
        },
        "engine": dict(result.engine),
        "notes": list(result.options.notes),
    }


def check_chart_path(path: Path) -> None:
    """Fail before the bench runs if the chart cannot be written (format, matplotlib missing)."""
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise UsageError(f"--chart {path}: the file name must end in .png or .svg.")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise EnvironmentProblem(
            "--chart needs matplotlib, which is not installed. Install the extra: pip install 'stagecache[chart]'."
        ) from None


def write_chart(result: BenchResult, path: Path) -> None:
    """A grouped bar chart: median wall seconds per scenario (groups) and strategy (bars),
    each bar annotated with its cache-hit ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(result.options.scenarios)
    names = [o.strategy.name for o in result.outcomes]
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(scenarios) * max(1, len(names)) / 3), 5.5))
    cmap = plt.get_cmap("tab10")
    for i, name in enumerate(names):
        xs, ys, labels = [], [], []
        for j, scenario in enumerate(scenarios):
            cell = result.cell(name, scenario)
            if cell.seconds is None:
                continue
            xs.append(j - 0.4 + width * (i + 0.5))
            ys.append(cell.seconds[0])
            labels.append("-" if cell.hit_ratio is None else f"{cell.hit_ratio * 100:.0f}%")
        bars = ax.bar(xs, ys, width, label=name, color=cmap(i % 10))
        for bar, label in zip(bars, labels, strict=True):
            ax.annotate(
                label,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=6,
                rotation=90,
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_ylabel("median wall seconds of the measured bake")
    ax.set_title(f"stagecache bench: {Path(result.dockerfile).parent.name} (labels: cache-hit ratio)")
    ax.legend(fontsize=7, ncols=2)
    ax.margins(y=0.15)
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    except OSError as exc:
        raise UsageError(
            f"cannot write the chart {path}: {exc.strerror or exc}. Choose a path you can write to."
        ) from None
    plt.close(fig)
