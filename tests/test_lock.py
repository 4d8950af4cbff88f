"""Bakes that share a local cache directory never hold its lock at the same time: real
processes, staggered so that one starts while another waits and a third arrives after the
first, which kept no cache, has left."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from stagecache import config as cfg, localcache
    from stagecache.plan import make_plan

    root, log, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    plan = make_plan(cfg.load(root / "stagecache.toml", env={}))
    with localcache.lock(plan, lambda message: None):
        with open(log, "a") as fh:
            fh.write(f"{name} in {time.monotonic()}\\n")
        time.sleep(0.6)
        with open(log, "a") as fh:
            fh.write(f"{name} out {time.monotonic()}\\n")
    """
)


def test_the_lock_is_held_by_one_bake_at_a_time(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM alpine AS a\nRUN true\n")
    (root / ".dockerignore").write_text(".stagecache/\n")
    (root / "stagecache.toml").write_text('[cache]\nmode = "local"\n')
    log = tmp_path / "log"
    log.write_text("")

    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", HOLDER, str(root), str(log), name])

    def wait_for(line: str) -> None:
        deadline = time.monotonic() + 30
        while not any(x.startswith(line) for x in log.read_text().splitlines()):
            assert time.monotonic() < deadline, f"no '{line}' in {log.read_text()!r}"
            time.sleep(0.01)

    procs = [start("a")]
    wait_for("a in")
    procs.append(start("b"))  # waits for a
    wait_for("a out")  # a kept no cache; b holds the lock now, or is about to
    procs.append(start("c"))  # must wait for b
    for proc in procs:
        assert proc.wait(timeout=30) == 0
    events = [line.split() for line in log.read_text().splitlines()]
    spans = {}
    for name, kind, t in events:
        spans.setdefault(name, {})[kind] = float(t)
    intervals = sorted((s["in"], s["out"], n) for n, s in spans.items())
    assert [n for _, _, n in intervals] == ["a", "b", "c"]
    for (_, out, first), (start, _, second) in zip(intervals, intervals[1:], strict=False):
        assert start >= out, f"{second} entered while {first} held the lock"
    # The lock file stays: deleting it is what let two bakes in at once.
    cache = root / ".stagecache" / "cache"
    assert sorted(p.name for p in cache.iterdir()) == [".lock", "CACHEDIR.TAG"]
