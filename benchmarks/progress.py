"""Benchmark: progress parsing streams. A synthetic rawjson stream (one step printing
N log lines, as buildx sends them: status objects with base64 logs), fed in 64 kB
chunks. Reports time per MB and peak memory for growing N: time must grow linearly
and peak memory stay flat (only the last lines of a step's log are kept).

    .venv/bin/python benchmarks/progress.py
"""

from __future__ import annotations

import base64
import json
import time
import tracemalloc

from _common import versions, write_result

from stagecache.progress import BuildProgress


def stream(lines: int) -> str:
    parts = [
        json.dumps(
            {"vertexes": [{"digest": "sha256:a", "name": "[build 2/3] RUN make", "started": "2026-01-01T00:00:00Z"}]}
        )
    ]
    batch = 100
    for i in range(0, lines, batch):
        data = "".join(f"compiling file {j} of {lines} with some flags -O2 -Wall\n" for j in range(i, i + batch))
        parts.append(
            json.dumps(
                {"logs": [{"vertex": "sha256:a", "stream": 1, "data": base64.b64encode(data.encode()).decode()}]},
                indent=2,
            )
        )
    parts.append(
        json.dumps(
            {
                "vertexes": [
                    {
                        "digest": "sha256:a",
                        "name": "[build 2/3] RUN make",
                        "started": "2026-01-01T00:00:00Z",
                        "completed": "2026-01-01T00:01:00Z",
                    }
                ]
            }
        )
    )
    return "\n".join(parts)


def measure(lines: int) -> dict:
    text = stream(lines)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    p = BuildProgress()
    for i in range(0, len(text), 65536):
        p.feed(text[i : i + 65536])
    p.close()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    assert p.steps["sha256:a"].done
    mb = len(text) / 1e6
    return {
        "log_lines": lines,
        "stream_mb": round(mb, 1),
        "seconds": round(seconds, 3),
        "seconds_per_mb": round(seconds / mb, 4),
        "peak_kb": round(peak / 1024),
    }


def main() -> None:
    rows = [measure(n) for n in (10_000, 100_000, 1_000_000)]
    for r in rows:
        print(r)
    result = {"benchmark": "progress", "versions": versions(), "rows": rows}
    write_result("progress", result)
    growth = rows[-1]["peak_kb"] / max(1, rows[0]["peak_kb"])
    per_mb = rows[-1]["seconds_per_mb"] / rows[0]["seconds_per_mb"]
    print(f"100x more log: peak memory x{growth:.2f}, time per MB x{per_mb:.2f} (flat: constant memory, linear time)")


if __name__ == "__main__":
    main()
