"""``plan`` on any Dockerfile ends with a plan or a one-paragraph error (exit 2), never a traceback.

The graph reader is fed mutations of real Dockerfiles (the conformance corpus and the
examples): every truncation of a few files, byte flips, binary data, and fragments that
tend to break readers (unbalanced ``${``, odd flags, stray quotes, escapes, heredocs). The
seeds are fixed, so a failure names an input that reproduces it.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from stagecache import graph
from stagecache.errors import DockerfileError
from tests.conftest import EXAMPLES, ROOT

CORPUS = sorted((ROOT / "tests" / "conformance" / "cases").glob("*.Dockerfile")) + sorted(EXAMPLES.glob("*/Dockerfile"))
FRAGMENTS = [
    "${",
    "}",
    "$",
    "${X:-",
    "${X#}",
    "${X/",
    "${:}",
    "\\",
    "`",
    '"',
    "'",
    "\n",
    "\r\n",
    " AS ",
    " as ",
    "FROM ",
    "--from=",
    "--from=${A}",
    "--platform=",
    "--mount=from=",
    "--mount=type=cache,from=x,target=/c",
    "--link",
    "--chown=",
    "ONBUILD ",
    "ONBUILD ONBUILD RUN x",
    "ARG ",
    "ARG =x",
    "ARG X",
    "COPY ",
    "WORKDIR ",
    "<<EOF\n",
    "EOF\n",
    "# syntax=docker/dockerfile:1\n",
    "# escape=`\n",
    "\x00",
    "\ufeff",
    "é",
    "stage-1",
    "0",
    "-1",
    "99999999999999999999",
]


def _check(text: str) -> None:
    """Parse, then resolve every target; only DockerfileError may come out."""
    try:
        g = graph.parse(Path("Dockerfile"), {"X": "1"}, "linux/amd64", text=text)
        for target in [None, *g.targets(), "stage-0", "nosuch"]:
            try:
                for stage in g.build_order(target):
                    _ = (stage.steps, stage.label, stage.total)
            except DockerfileError as exc:
                assert exc.message.strip() and "\n" not in exc.message.strip(), exc.message
    except DockerfileError as exc:
        assert exc.exit_code == 2
        assert exc.message.startswith("Dockerfile"), exc.message


def _mutations(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    texts = [p.read_text() for p in CORPUS]
    out = []
    for _ in range(count):
        text = rng.choice(texts)
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            pos = rng.randint(0, len(text))
            if kind < 0.45:
                text = text[:pos] + rng.choice(FRAGMENTS) + text[pos:]
            elif kind < 0.7:
                end = min(len(text), pos + rng.randint(1, 12))
                text = text[:pos] + text[end:]
            elif kind < 0.85:
                text = text[:pos]
            else:
                other = rng.choice(texts)
                start = rng.randint(0, len(other))
                text = text[:pos] + other[start : start + rng.randint(1, 80)] + text[pos:]
        out.append(text)
    return out


@pytest.mark.parametrize("seed", range(8))
def test_mutated_dockerfiles_give_a_graph_or_a_dockerfile_error(seed: int) -> None:
    for text in _mutations(seed, 150):
        try:
            _check(text)
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - the point: anything else is a crash
            pytest.fail(f"{type(exc).__name__}: {exc}\ninput (seed {seed}):\n{text!r}")


@pytest.mark.parametrize("path", CORPUS[:6], ids=lambda p: p.name)
def test_every_truncation_of_a_dockerfile(path: Path) -> None:
    text = path.read_text()
    for end in range(len(text) + 1):
        try:
            _check(text[:end])
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"{type(exc).__name__}: {exc}\ninput ({path.name}[:{end}]):\n{text[:end]!r}")


def test_binary_and_odd_files(tmp_path: Path) -> None:
    rng = random.Random(7)
    samples = {
        "random": bytes(rng.randrange(256) for _ in range(400)),
        "nul": b"FROM alpine\n\x00RUN x\n",
        "utf16": "FROM alpine\n".encode("utf-16"),
        "latin1": "FROM alpine AS caf\xe9\n".encode("latin-1"),
        "bom": "\ufeffFROM alpine\n".encode(),
        "crlf": b"FROM alpine AS a\r\nRUN x\r\nFROM a\r\n",
        "only-comments": b"# syntax=docker/dockerfile:1\n# nothing\n",
        "huge-line": b"FROM alpine\nRUN " + b"x" * 200_000 + b"\n",
    }
    for name, data in samples.items():
        path = tmp_path / name
        path.write_bytes(data)
        try:
            graph.parse(path, None, "linux/amd64")
        except DockerfileError as exc:
            assert str(path) in exc.message, (name, exc.message)
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"{name}: {type(exc).__name__}: {exc}")
