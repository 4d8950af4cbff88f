"""stagecache bench on the real engine and registry, on the small example.

This is the evidence behind the README's advice: on a fresh runner with no change,
every cache but `none` and `classic-final` hits every step; after an everyday source
edit, only the per-stage caches (and registry mode=max) keep the toolchain step that
comes before `COPY hello.c`. A registry strategy may take up to three benches to show it:
the engine's builder sometimes runs such a step again though the imported cache holds it
(docs/benchmarks.md); a retry is reported as a warning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

from stagecache.strategies import STRATEGIES
from tests.engine.conftest import Project, interrupt_when, tree_digest

STAGECACHE = str(Path(sys.executable).parent / "stagecache")
KEEP_TOOLCHAIN = {"classic-stages", "inline-stages", "registry-min", "registry-max", "local"}
LOSE_TOOLCHAIN = {"classic-final", "inline-final", "registry-min-single"}
MAY_LOSE_TOOLCHAIN = {"registry-max-single"}
"""One build of the target exporting mode=max usually keeps the upstream stage's steps, and
sometimes does not (docs/benchmarks.md: it lost examples/gcc's deps in 2 of 9 fresh-runner
bakes at 4fdfbdf, and this test saw it lose the toolchain at 37542db): what per-stage caching
is for. Either way, it never hits a step the edit changed."""


def bench_project(make_project) -> Project:
    # The example's toolchain step takes its 2 s: stagecache's own CPU is held to 5 % of a
    # bench of real steps, not of steps that take no time.
    p: Project = make_project("hello", sleeps=True)
    toml = (p.root / "stagecache.toml").read_text()
    (p.root / "stagecache.toml").write_text(toml.replace("[project]\n", f'[project]\nimage = "{p.image}"\n', 1))
    return p


def run_bench(p: Project, work: Path, out: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run(
        [STAGECACHE, "bench", "-C", str(p.root), "--allow-prune", "--scenario", "cold,cold-edit-source"]
        + ["--progress", "plain", "--layers", "--json", str(out / "bench.json"), *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(work)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads((out / "bench.json").read_text())


def steps(data: dict, strategy: str, scenario: str) -> dict[str, dict[int, bool]]:
    """Cache hit or miss of each step of each stage, in one strategy's run of a scenario."""
    (run,) = [r for r in data["runs"] if r["strategy"] == strategy and r["scenario"] == scenario]
    assert run["status"] == "success", run
    out: dict[str, dict[int, bool]] = {}
    for row in data["layers"][scenario]:
        cell = row["strategies"].get(strategy)
        if cell is not None:
            out.setdefault(row["stage"], {})[row["step"]] = cell["cached"]
    return out


TOOLCHAIN_KEPT = {"compile-image": {2: True, 3: True, 4: False, 5: False}, "runtime-image": {2: True, 3: False}}


def only_lost_untouched_steps(got: dict[str, dict[int, bool]]) -> bool:
    """Whether ``got`` differs from TOOLCHAIN_KEPT only by misses of compile-image's steps 2 and 3
    (the ones before COPY hello.c), and runtime-image's COPY motd.txt after them."""
    expected = TOOLCHAIN_KEPT
    if got.keys() != expected.keys() or any(got[s].keys() != expected[s].keys() for s in expected):
        return False
    hits_beyond = [(s, n) for s in got for n, hit in got[s].items() if hit and not expected[s][n]]
    lost = {(s, n) for s in got for n, hit in got[s].items() if expected[s][n] and not hit}
    return not hits_beyond and lost <= {("compile-image", 2), ("compile-image", 3), ("runtime-image", 2)}


def test_bench_matrix_on_a_fresh_runner(make_project, tmp_path: Path) -> None:
    p = bench_project(make_project)
    before = tree_digest(p.root)
    untagged = p.runner.dangling_images()
    out = tmp_path / "out"
    work = tmp_path / "tmp"
    work.mkdir()
    done, data = run_bench(p, work, out, "--markdown", str(out / "bench.md"), "--chart", str(out / "bench.png"))
    assert data["schema"] == "stagecache.bench/v1" and data["status"] == "complete"
    assert [s["name"] for s in data["strategies"]] == list(STRATEGIES)

    all_miss = {"compile-image": dict.fromkeys((2, 3, 4, 5), False), "runtime-image": {2: False, 3: False}}
    # cold: BuildKit's final-only caches survive a no-change fresh runner; classic-final does not.
    for name in STRATEGIES:
        got = steps(data, name, "cold")
        if name == "none":
            assert got == all_miss
        elif name == "classic-final":
            assert got == {"compile-image": dict.fromkeys((2, 3, 4, 5), False), "runtime-image": {2: True, 3: True}}
        else:
            assert all(all(s.values()) for s in got.values()) and len(got) == 2, (name, got)
    # cold-edit-source: the toolchain step before COPY hello.c survives only with per-stage (or max) caches.
    # The engine's builder sometimes runs again a step that an imported registry cache holds (docs/
    # benchmarks.md, "Registry caches on this engine"): a registry strategy that lost only steps the
    # edit could not touch (WORKDIR, the toolchain RUN) is benched again on its own, up to twice, and
    # each time it happens the test says so. Any other difference (a hit where the edit must miss,
    # another strategy) fails at once.
    final = {name: data for name in STRATEGIES}
    for attempt in (1, 2):
        lost = [n for n in sorted(KEEP_TOOLCHAIN) if steps(final[n], n, "cold-edit-source") != TOOLCHAIN_KEPT]
        if not lost:
            break
        for name in lost:
            got = steps(final[name], name, "cold-edit-source")
            assert name.startswith("registry-") and only_lost_untouched_steps(got), (name, got)
        warnings.warn(f"bench attempt {attempt}: registry caches lost untouched steps: {lost}", stacklevel=1)
        again = run_bench(p, work, tmp_path / f"again{attempt}", "--strategy", ",".join(lost))[1]
        final.update(dict.fromkeys(lost, again))
    for name in STRATEGIES:
        got = steps(final[name], name, "cold-edit-source")
        if name == "none":
            assert got == all_miss
        elif name in KEEP_TOOLCHAIN:
            assert got == TOOLCHAIN_KEPT, name
        elif name in MAY_LOSE_TOOLCHAIN:
            # It may lose the toolchain, and with it WORKDIR, or the toolchain alone (the CI
            # simulation at 90eed28 saw WORKDIR kept and the toolchain RUN lost), never a step the
            # edit must miss.
            assert only_lost_untouched_steps(got), (name, got)
        else:
            assert name in LOSE_TOOLCHAIN
            assert got["compile-image"] == dict.fromkeys((2, 3, 4, 5), False), name

    # Every strategy's cache had a size; the bench deleted its refs and images afterwards.
    for s in data["strategies"]:
        assert (s["cache_bytes"] == 0) == (s["name"] == "none"), s
        repo = s["image"].split("/", 1)[1]
        assert p.registry.tags(repo) == [], s["image"]
        assert p.runner.local_tags(s["image"]) == []
    # Nor did it leave the images its rebuilds untagged (classic's pulled stage images).
    assert p.runner.dangling_images() <= untagged
    assert data["timing"]["overhead_ratio"] < 0.05
    # The user's files were never touched; the temporary copy is gone.
    assert tree_digest(p.root) == before
    assert list(work.iterdir()) == []
    # Human outputs.
    notes = [ln for ln in done.stdout.splitlines() if ln.startswith("note: ")]
    table = done.stdout.splitlines()[len(notes) :]
    assert table[0].split()[:3] == ["strategy", "cold", "cold-edit-source"] and table[0].split()[-1] == "engine"
    # The classic strategies ran on this engine, whose image store is containerd's: said first.
    assert len(notes) == 1 and "classic-final, classic-stages ran on an engine with the containerd" in notes[0]
    assert "layers, scenario cold-edit-source:" in done.stdout
    md = (out / "bench.md").read_text()
    assert md.startswith("### stagecache bench") and "| registry-max |" in md
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "==> [1/30] none / populate" in done.stderr


def test_bench_ctrl_c_writes_what_was_measured_and_removes_the_copy(make_project, tmp_path: Path) -> None:
    p = bench_project(make_project)
    work = tmp_path / "tmp"
    work.mkdir()
    report = tmp_path / "bench.json"
    proc = subprocess.Popen(
        [STAGECACHE, "bench", "-C", str(p.root), "-s", "local,registry-max", "--scenario", "warm"]
        + ["--progress", "plain", "--json", str(report)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(work)},
    )
    out, err = interrupt_when(proc, lambda seen: seen[-1].startswith("==> [3/4] registry-max / populate"))
    assert proc.returncode == 130, err
    assert "Error: interrupted by SIGINT" in err
    data = json.loads(report.read_text())
    assert data["status"] == "interrupted"
    local_runs = [(r["scenario"], r["status"]) for r in data["runs"] if r["strategy"] == "local"]
    assert local_runs == [("populate", "success"), ("warm", "success")]
    assert "interrupted: the figures above are what was measured before Ctrl-C." in out
    assert list(work.iterdir()) == []
    leftover = subprocess.run(["pgrep", "-f", f"buildx build.*{work}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_bench_edits_behind_a_symlinked_folder_stay_in_its_copy(make_project, tmp_path: Path) -> None:
    p = bench_project(make_project)
    (p.root / "docs").mkdir()
    (p.root / "docs" / "notes.txt").write_text("notes\n")
    (p.root / "linked").symlink_to("docs")  # a relative link: inside the bench's copy, it stays in the copy
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "real.txt").write_text("the user's real file\n")
    (p.root / "away").symlink_to(outside)
    toml = (p.root / "stagecache.toml").read_text()
    toml += 'warm-edit-linked = { file = "linked/notes.txt", append = "bench edit" }\n'
    (p.root / "stagecache.toml").write_text(toml)
    before = {**tree_digest(p.root), **{f"outside/{k}": v for k, v in tree_digest(outside).items()}}
    done = subprocess.run(
        [STAGECACHE, "bench", "-C", str(p.root), "--strategy", "local", "--scenario", "warm-edit-linked",
         "--progress", "plain"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    after = {**tree_digest(p.root), **{f"outside/{k}": v for k, v in tree_digest(outside).items()}}
    assert after == before
    # An edit that would leave the context through a link is refused before anything runs.
    (p.root / "stagecache.toml").write_text(toml + 'cold-edit-away = { file = "away/real.txt", append = "x" }\n')
    refused = subprocess.run(
        [STAGECACHE, "bench", "-C", str(p.root), "--strategy", "local", "--scenario", "cold-edit-away"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "away/real.txt is not a regular file in the build context" in refused.stderr
    assert (outside / "real.txt").read_text() == "the user's real file\n"
