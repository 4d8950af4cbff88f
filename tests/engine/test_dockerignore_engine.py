"""The .dockerignore table (tests/data/dockerignore_cases.txt) against BuildKit itself: for
each case, a context holding the path is sent by buildx with those patterns, and what arrives
in the build (COPY . /) says whether Docker excluded it."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

from stagecache import dockerignore
from tests.test_dockerignore import cases


def _arrived(tmp: Path, patterns: list[str], paths: list[str]) -> set[str]:
    context = tmp / "context"
    context.mkdir(parents=True)
    for rel in paths:
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        (context / rel).write_text(rel)
    (context / ".dockerignore").write_text("\n".join(patterns) + "\n")
    (tmp / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    out = tmp / "out"
    subprocess.run(
        ["docker", "buildx", "build", "--quiet", "--file", str(tmp / "Dockerfile"),
         "--output", f"type=local,dest={out}", str(context)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def test_the_table_is_what_buildkit_sends(engine, tmp_path: Path) -> None:
    groups: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
    for case in cases():
        patterns, path, expected = case.values
        groups[tuple(patterns)].append((path, expected))
    builds = 0
    for patterns, rows in groups.items():
        # A path that is a folder of another path in the same group is built on its own.
        batches: list[list[tuple[str, str]]] = []
        for row in rows:
            batch = next(
                (b for b in batches if not any(p.startswith(row[0] + "/") or row[0].startswith(p + "/") for p, _ in b)),
                None,
            )
            if batch is None:
                batches.append([row])
            else:
                batch.append(row)
        for batch in batches:
            builds += 1
            arrived = _arrived(tmp_path / f"b{builds}", list(patterns), [p for p, _ in batch])
            for path, expected in batch:
                sent = path in arrived
                assert ("included" if sent else "excluded") == expected, (patterns, path)
                assert dockerignore.matches(dockerignore.parse("\n".join(patterns)), path) is not sent
    assert builds >= 25


def test_a_dockerfile_s_own_ignore_file_is_the_one_buildkit_reads(engine, tmp_path: Path) -> None:
    context = tmp_path / "context"
    (context / "docker").mkdir(parents=True)
    for name in ("a.txt", "b.txt"):
        (context / name).write_text(name)
    (context / ".dockerignore").write_text("a.txt\n")
    dockerfile = context / "docker" / "app.Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY . /\n")

    def arrived() -> set[str]:
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
        subprocess.run(
            ["docker", "buildx", "build", "--quiet", "--file", str(dockerfile),
             "--output", f"type=local,dest={out}", str(context)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.parent == out}

    assert "a.txt" not in arrived() and not dockerignore.ignore_file(context, dockerfile).name.startswith("app")
    (context / "docker" / "app.Dockerfile.dockerignore").write_text("b.txt\n")
    sent = arrived()
    assert "a.txt" in sent and "b.txt" not in sent  # the Dockerfile's own file replaced the context's
    assert dockerignore.ignore_file(context, dockerfile) == context / "docker" / "app.Dockerfile.dockerignore"
    assert dockerignore.excluded(context, context / "b.txt", dockerfile)
    assert not dockerignore.excluded(context, context / "a.txt", dockerfile)
