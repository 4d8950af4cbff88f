"""Benchmark: `stagecache plan` on a 62-stage Dockerfile written with the idioms of large
projects (global ARGs with ${VAR#pattern} and friends, FROM --platform=$BUILDPLATFORM, a
tonistiigi/xx-style cross-compile helper, RUN --mount=from=, COPY --from chains, stages chosen
by ${TARGETOS}, WORKDIRs, a # syntax= line), against `stagecache --version` (Python, typer and
stagecache start-up: the floor for any command), alternated. Target: plan under 0.3 s.

    .venv/bin/python benchmarks/plan_realworld.py [REPEAT]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

from _common import STAGECACHE, alternate, compile_bytecode, run, summary, versions, write_result

STAGES = 55


def dockerfile() -> str:
    lines = [
        "# syntax=docker/dockerfile:1",
        "ARG GO_VERSION=1.22",
        "ARG ALPINE_VERSION=3.19",
        "ARG XX_VERSION=1.4.0",
        'ARG BASE_VARIANT="alpine"',
        "ARG TARGETARCH",
        "ARG ARCH=${TARGETPLATFORM#linux/}",
        "ARG GOARCH=${ARCH%%/*}",
        "FROM --platform=$BUILDPLATFORM tonistiigi/xx:${XX_VERSION} AS xx",
        "FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine${ALPINE_VERSION} AS golatest",
        "FROM golatest AS gobase",
        "COPY --from=xx / /",
        "RUN apk add --no-cache file git",
        "ENV GOFLAGS=-mod=vendor",
        "WORKDIR /src",
    ]
    for i in range(STAGES):
        parent = "gobase" if i < 3 else f"s{i - 1}"
        lines += [
            f"FROM {parent} AS s{i}",
            "ARG TARGETPLATFORM",
            "RUN --mount=type=bind,target=. --mount=type=cache,target=/root/.cache "
            f"--mount=from=golatest,source=/usr/local/go,target=/go xx-go build -o /out/s{i} ./cmd/s{i}",
            f"COPY --from=gobase /src/go.mod /m{i}",
            f"WORKDIR /w{i}",
            f"RUN echo {i} && ls",
        ]
    lines += [
        "FROM scratch AS binaries-linux",
        f"COPY --from=s{STAGES - 1} /out /",
        "FROM binaries-linux AS binaries-unix",
        "FROM binaries-${TARGETOS} AS binaries",
        "FROM alpine:${ALPINE_VERSION} AS final",
        "COPY --from=binaries / /usr/bin/",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    compile_bytecode()
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory(prefix="stagecache-plan60-") as tmp:
        project = Path(tmp)
        (project / "Dockerfile").write_text(dockerfile())
        (project / "stagecache.toml").write_text("[project]\n")
        stages = sum(1 for line in dockerfile().splitlines() if line.startswith("FROM "))
        times = alternate(
            {
                "version": lambda: run(STAGECACHE, "--version"),
                "plan": lambda: run(STAGECACHE, "plan", "-C", str(project)),
                "plan-json": lambda: run(STAGECACHE, "plan", "--json", "-C", str(project)),
            },
            repeat,
        )
    median = statistics.median(times["plan"])
    result = {
        "benchmark": "plan-realworld",
        "repeat": repeat,
        "stages": stages,
        "versions": versions(),
        "seconds": summary(times, "version"),
    }
    path = write_result("plan-realworld", result)
    print(json.dumps(result, indent=2))
    print(f"{stages} stages: plan median {median:.3f} s (target < 0.3 s): {'OK' if median < 0.3 else 'MISSED'}; {path}")


if __name__ == "__main__":
    main()
