"""``.dockerignore`` matching by Docker's rules, one case per line of tests/data/dockerignore_cases.txt."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagecache import dockerignore
from tests.conftest import DATA


def cases() -> list:
    out = []
    for number, line in enumerate((DATA / "dockerignore_cases.txt").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        patterns, path, expected = (part.strip() for part in line.split(" | "))
        out.append(pytest.param(patterns.split(" ; "), path, expected, id=f"line{number}"))
    return out


@pytest.mark.parametrize(("patterns", "path", "expected"), cases())
def test_dockerignore_rules(patterns: list[str], path: str, expected: str) -> None:
    assert expected in ("excluded", "included")
    got = dockerignore.matches(dockerignore.parse("\n".join(patterns)), path)
    assert ("excluded" if got else "included") == expected


def test_reads_the_context_file(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("# cache\n\n  .stagecache/  \n!keep\n")
    assert dockerignore.excluded(tmp_path, tmp_path / ".stagecache" / "cache")
    assert not dockerignore.excluded(tmp_path, tmp_path / "src")
    assert not dockerignore.excluded(tmp_path / "sub", tmp_path / "sub" / ".stagecache")  # no file there


def test_a_dockerfile_s_own_ignore_file_takes_precedence(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    dockerfile = tmp_path / "docker" / "app.Dockerfile"
    cache = tmp_path / ".stagecache" / "cache"
    (tmp_path / ".dockerignore").write_text(".stagecache\n")
    assert dockerignore.ignore_file(tmp_path, dockerfile) == tmp_path / ".dockerignore"
    assert dockerignore.excluded(tmp_path, cache, dockerfile)
    # docker/app.Dockerfile.dockerignore exists: it alone applies (BuildKit, see the engine test).
    (tmp_path / "docker" / "app.Dockerfile.dockerignore").write_text("node_modules\n")
    assert dockerignore.ignore_file(tmp_path, dockerfile) == tmp_path / "docker" / "app.Dockerfile.dockerignore"
    assert not dockerignore.excluded(tmp_path, cache, dockerfile)
    assert dockerignore.excluded(tmp_path, cache)  # without the Dockerfile: the context's file
