"""Files stagecache writes for the user (bake --report, bench --json/--markdown/--chart,
export-bake) get the mode ``open()`` would give them, and are replaced atomically."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stagecache import report
from stagecache.cli import app
from stagecache.errors import UsageError

if os.name != "posix":
    pytest.skip("file modes and the umask are POSIX", allow_module_level=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the test process's umask after a test sets one."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_new_files_are_0644_under_the_usual_umask(tmp_path: Path, umask: None) -> None:
    os.umask(0o022)
    report.write_json(tmp_path / "bench.json", {"schema": "x"})
    report.write_text(tmp_path / "out" / "bench.md", "# bench\n")
    assert mode(tmp_path / "bench.json") == 0o644  # was 0600: tempfile.mkstemp's mode
    assert mode(tmp_path / "out" / "bench.md") == 0o644
    assert json.loads((tmp_path / "bench.json").read_text()) == {"schema": "x"}


def test_the_umask_is_honoured_not_a_fixed_mode(tmp_path: Path, umask: None) -> None:
    os.umask(0o077)
    report.write_text(tmp_path / "private.md", "x")
    os.umask(0o002)
    report.write_text(tmp_path / "shared.md", "x")
    assert mode(tmp_path / "private.md") == 0o600
    assert mode(tmp_path / "shared.md") == 0o664


def test_a_replaced_file_keeps_its_mode(tmp_path: Path, umask: None) -> None:
    os.umask(0o022)
    path = tmp_path / "report.json"
    path.write_text("old")
    path.chmod(0o640)
    report.write_json(path, {"new": True})
    assert mode(path) == 0o640
    assert json.loads(path.read_text()) == {"new": True}


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old")

    def fail(_fh: object) -> None:
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        report.write_file(path, fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_an_unwritable_path_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(UsageError, match=f"cannot write {tmp_path / 'taken' / 'r.json'}: "):
        report.write_json(tmp_path / "taken" / "r.json", {})
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(UsageError, match="cannot write .*folder.json: Is a directory"):
        report.write_json(tmp_path / "folder.json", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.json", "taken"]


def test_export_bake_writes_0644(tmp_path: Path, umask: None) -> None:
    os.umask(0o022)
    (tmp_path / "Dockerfile").write_text("FROM alpine AS base\nRUN a\nFROM base AS runtime\nRUN b\n")
    out = tmp_path / "docker-bake.json"
    done = CliRunner().invoke(app, ["export-bake", str(out), "-C", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert mode(out) == 0o644


def test_the_chart_is_written_atomically_with_the_usual_mode(tmp_path: Path, umask: None) -> None:
    pytest.importorskip("matplotlib", reason="the chart needs the 'chart' extra (make install installs it)")
    from stagecache import benchreport
    from tests.test_chart import realistic_result

    os.umask(0o022)
    path = tmp_path / "bench.png"
    benchreport.write_chart(realistic_result(), path)
    assert mode(path) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["bench.png"]
