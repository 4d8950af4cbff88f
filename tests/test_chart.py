"""The bench chart (``stagecache bench --chart``) is readable at the width a CI job summary
shows it, 800 px: checked from matplotlib's own layout of the file it writes."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import pytest

from stagecache import bench, benchreport, strategies
from stagecache.report import StageResult, StepResult, write_json

try:
    import matplotlib  # noqa: F401
except ImportError:
    if os.environ.get("CI"):  # CI installs the 'chart' extra (make install): its absence is a broken set-up
        raise
    pytest.skip(
        "matplotlib is not installed: the chart needs the 'chart' extra (make install, or pip install -e '.[chart]')",
        allow_module_level=True,
    )

from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.transforms import Bbox

SUMMARY_WIDTH = 800  # px: how wide a GitHub or GitLab job summary shows the image
MIN_POINTS = 11.0
STRATEGIES = ("registry-max-single+bake", "registry-min-single", "inline-stages+bake", "classic-final", "local", "none")
SCENARIOS = ("warm", "cold", "cold-edit-source", "cold-edit-dependencies")


def _run(strategy: str, scenario: str, index: int, seconds: float, hits: int, status: str = "success") -> bench.Run:
    steps = tuple(StepResult("deps", n, f"RUN step {n}", n, n <= hits, 0.0 if n <= hits else 1.5) for n in range(1, 10))
    return bench.Run(strategy, scenario, index, status, seconds, (StageResult("deps", "built", seconds, steps),))


def realistic_result() -> bench.BenchResult:
    """Six strategies (the longest names there are), four scenarios, three runs a cell, one failed cell."""
    runs = []
    for i, name in enumerate(STRATEGIES):
        for j, scenario in enumerate(SCENARIOS):
            for k in range(1, 4):
                if name == "classic-final" and scenario == "cold-edit-dependencies":
                    runs.append(_run(name, scenario, k, 3.0, 0, status="failed"))
                else:
                    seconds = 0.4 + 1.7 * i + 9.3 * (name == "none") + 0.8 * j + 0.05 * k
                    runs.append(_run(name, scenario, k, seconds, 9 if j < 2 and name != "none" else 2 * (i % 4)))
    return bench.BenchResult(
        status="failed",
        target="runtime",
        dockerfile="/home/ci/builds/acme/payment-service/Dockerfile",
        stage_order=("deps",),
        options=bench.BenchOptions(strategies=STRATEGIES, scenarios=SCENARIOS, repeat=3, layers_scenario="cold"),
        outcomes=tuple(
            bench.StrategyOutcome(strategies.get(name), f"reg.example.com/acme/payment-service/bench-{name}")
            for name in STRATEGIES
        ),
        runs=tuple(runs),
        wall_seconds=400.0,
        docker_seconds=390.0,
        engine={"docker": "26.1.5", "buildx": "0.13.1"},
    )


@dataclass(frozen=True)
class Drawn:
    """A text as the saved file shows it."""

    artist: Text
    text: str
    box: Bbox  # pixels of the saved image
    points: float  # its font size when the image is shown 800 px wide
    rotation: float


@dataclass
class Layout:
    """What the saved file shows, measured by the renderer that drew it (pixels of the image)."""

    image: Bbox = field(default_factory=Bbox.null)
    texts: dict[Text, Drawn] = field(default_factory=dict)
    legends: dict[Legend, tuple[Bbox, set[Text]]] = field(default_factory=dict)  # each legend's box, own texts
    plots: list[Bbox] = field(default_factory=list)  # the axes' plotting areas


def render(result: bench.BenchResult, path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    """Write the chart with benchreport.write_chart, recording every text and legend drawn into the file."""
    layout = Layout()
    saving: list[Figure] = []
    draw_text, draw_legend, savefig = Text.draw, Legend.draw, Figure.savefig

    def recording_draw_text(self: Text, renderer) -> None:
        draw_text(self, renderer)
        if not saving or not self.get_visible() or not self.get_text().strip():
            return
        width, height = renderer.get_canvas_width_height()
        layout.image = Bbox.from_bounds(0, 0, width, height)
        # font points -> pixels at the renderer's dpi -> scaled to the summary's width -> points at 100 dpi
        points = self.get_fontsize() * renderer.dpi / 72 * (SUMMARY_WIDTH / width) * 72 / 100
        box = self.get_window_extent(renderer).frozen()
        layout.texts[self] = Drawn(self, self.get_text(), box, points, self.get_rotation())

    def recording_draw_legend(self: Legend, renderer) -> None:
        draw_legend(self, renderer)
        if saving and self.get_visible():
            own = {*self.get_texts(), self.get_title()}
            layout.legends[self] = (self.get_window_extent(renderer).frozen(), own)
            layout.plots = [ax.bbox.frozen() for ax in saving[-1].axes]

    def recording_savefig(self: Figure, *args, **kwargs):
        # A layout engine draws once without rendering, then again: the last drawing counts.
        layout.texts.clear()
        layout.legends.clear()
        saving.append(self)
        try:
            return savefig(self, *args, **kwargs)
        finally:
            saving.pop()

    monkeypatch.setattr(Text, "draw", recording_draw_text)
    monkeypatch.setattr(Legend, "draw", recording_draw_legend)
    monkeypatch.setattr(Figure, "savefig", recording_savefig)
    benchreport.write_chart(result, path)
    assert layout.texts, "the chart drew no text"
    return layout


def test_the_chart_is_readable_at_job_summary_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out" / "bench.png"
    layout = render(realistic_result(), path, monkeypatch)
    texts = list(layout.texts.values())

    small = [f"{t.text!r} ({t.points:.1f} pt)" for t in texts if t.points < MIN_POINTS - 1e-6]
    assert not small, f"text under {MIN_POINTS} pt at {SUMMARY_WIDTH} px wide: {small}"
    rotated = [f"{t.text!r} ({t.rotation:.0f} degrees)" for t in texts if t.rotation % 360]
    assert not rotated, f"rotated text: {rotated}"
    outside = [t.text for t in texts if not _contains(layout.image, t.box)]
    assert not outside, f"text leaves the image: {outside}"
    # Boxes less than 1 px apart count as touching.
    overlaps = [(a.text, b.text) for a, b in combinations(texts, 2) if _intersect(a.box.padded(0.5), b.box.padded(0.5))]
    assert not overlaps, f"overlapping text: {overlaps}"
    for legend, own in layout.legends.values():
        assert not any(_intersect(legend, plot) for plot in layout.plots), "a legend inside a plotting area"
        touching = [t.text for t in texts if t.artist not in own and _intersect(legend.padded(0.5), t.box)]
        assert not touching, f"text touching the legend: {touching}"

    # What it says: what is measured, every scenario and strategy, a hit ratio next to every bar.
    shown = [t.text for t in texts]
    titles = [s for s in shown if "lower is better" in s]
    assert any("seconds" in s.lower() and "payment-service" in s for s in titles), titles
    for scenario in SCENARIOS:
        assert any(s.startswith(f"{scenario}:") for s in shown), scenario
    for name in STRATEGIES:
        assert shown.count(name) == len(SCENARIOS), name
    hit_labels = [s for s in shown if s.endswith("hits") or s.endswith("hits, fastest")]
    assert len(hit_labels) == len(STRATEGIES) * len(SCENARIOS) - 1
    assert "failed" in shown
    assert sum(s.endswith(", fastest") for s in shown) == len(SCENARIOS)

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (layout.image.width, layout.image.height)
    assert [p.name for p in path.parent.iterdir()] == ["bench.png"]  # no temporary file left


def _contains(outer: Bbox, inner: Bbox) -> bool:
    return outer.x0 <= inner.x0 and inner.x1 <= outer.x1 and outer.y0 <= inner.y0 and inner.y1 <= outer.y1


def _intersect(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_an_svg_chart_is_written_too(tmp_path: Path) -> None:
    path = tmp_path / "bench.svg"
    benchreport.write_chart(realistic_result(), path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and "<svg" in text


def test_the_docs_chart_is_redrawn_from_a_result_file(tmp_path: Path) -> None:
    """The command that drew docs/benchmarks/gcc.png from docs/benchmarks/gcc.json."""
    source = tmp_path / "bench.json"
    write_json(source, benchreport.to_json(realistic_result()))
    assert benchreport.main([str(source), str(tmp_path / "chart.png")]) == 0
    assert (tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert benchreport.main([str(tmp_path / "chart.png"), str(tmp_path / "again.png")]) == 2
    assert benchreport.main([str(source), str(tmp_path / "chart.jpg")]) == 2
