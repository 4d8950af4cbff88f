"""The package as a user installs it: the wheel that `make dist` builds (``python -m build``:
an sdist, then a wheel from that sdist), installed, not editable, into a fresh virtualenv,
must hold every file of the package and the entry point, and run `stagecache --version` and a
`plan` of the bundled example exactly as the checkout does.

Dependencies come from a wheelhouse kept in pytest's cache folder, filled from the package
index once per set of requirements (this machine's index proxy sends no cache headers, so
pip's own HTTP cache keeps nothing); after that the test needs no network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import stagecache
from tests.conftest import EXAMPLES, ROOT

# What a clean clone does not have: the checkout's own venv, caches and build leftovers.
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv", ".engine", "__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".stagecache", "*.egg-info", "build", "dist", ".coverage",
)  # fmt: skip


def copy_source(dest: Path) -> Path:
    """The checkout as a clean clone has it, copied to ``dest``."""
    shutil.copytree(ROOT, dest, ignore=NOT_IN_A_CLONE)
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without this checkout's venv and Python path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def run(argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; a failure shows its output."""
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def wheelhouse(cache_root: Path, source: Path) -> Path:
    """A folder of wheels for the package's dependencies and build backend, so that an install
    from ``source`` (or its wheel) needs no index: ``pip install --no-index --find-links``.

    Kept under ``cache_root``, named by a digest of the requirements in ``source``'s
    pyproject.toml and the Python version: filled from the index when that set is new."""
    meta = tomllib.loads((source / "pyproject.toml").read_text())
    build_requires = meta["build-system"]["requires"]
    wanted = {"build": build_requires, "run": meta["project"]["dependencies"], "python": sys.version_info[:2]}
    digest = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]
    house = cache_root / f"wheelhouse-{digest}"
    if (house / ".complete").is_file():
        return house
    cache_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".wheelhouse-", dir=cache_root))
    run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", scratch, *build_requires, source], cwd=scratch)
    for own in scratch.glob("stagecache-*"):  # the package itself is built by each test
        own.unlink()
    (scratch / ".complete").touch()
    try:
        scratch.rename(house)
    except OSError:  # another run filled it first
        shutil.rmtree(scratch)
    return house


def wheel_cache(config: pytest.Config) -> Path:
    """Where wheelhouses live: pytest's cache folder (.pytest_cache), else a temp folder."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("stagecache-wheels"))
    return Path(tempfile.gettempdir()) / "stagecache-test-wheels"


def package_files(package: Path) -> set[str]:
    """The package's files as paths in a wheel (``stagecache/cli.py``), bytecode aside."""
    return {
        p.relative_to(package.parent).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def module_name(path: str) -> str:
    """``stagecache/cli.py`` -> ``stagecache.cli``; a package's ``__init__.py`` -> the package."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def build_wheel(source: Path, out: Path, house: Path) -> Path:
    """`make dist`'s build (an sdist, then the wheel from it), its backend from ``house``;
    returns the wheel."""
    env = clean_env(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(house))
    run([sys.executable, "-m", "build", "--outdir", out, source], cwd=source, env=env)
    wheels = sorted(out.glob("*.whl"))
    assert [w.name for w in wheels] == [f"stagecache-{stagecache.__version__}-py3-none-any.whl"]
    assert [s.name for s in out.glob("*.tar.gz")] == [f"stagecache-{stagecache.__version__}.tar.gz"]
    return wheels[0]


def test_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    source = copy_source(tmp_path / "src")
    house = wheelhouse(wheel_cache(request.config), source)
    wheel = build_wheel(source, tmp_path / "dist", house)

    # Every file of the package is in the wheel, and nothing else under stagecache/.
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = zf.read(f"stagecache-{stagecache.__version__}.dist-info/entry_points.txt").decode()
    assert {n for n in names if n.startswith("stagecache/")} == package_files(ROOT / "stagecache")
    assert entry_points.split() == ["[console_scripts]", "stagecache", "=", "stagecache.cli:main"]

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    run(
        [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", "--no-compile",
         "--no-index", "--find-links", house, wheel],
        cwd=tmp_path,
    )  # fmt: skip

    # The installed copy, not this checkout, is what runs.
    where = run([venv / "bin" / "python", "-I", "-c", "import stagecache; print(stagecache.__file__)"], cwd=tmp_path)
    site = run(
        [venv / "bin" / "python", "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path
    )
    assert where.stdout.strip() == str(Path(site.stdout.strip()) / "stagecache" / "__init__.py")

    # Every module imports from the installed copy (__main__ would run the CLI).
    modules = sorted(module_name(n) for n in package_files(ROOT / "stagecache") if n.endswith(".py"))
    modules.remove("stagecache.__main__")
    importer = (
        "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\nprint(len(sys.argv) - 1)"
    )
    assert run([venv / "bin" / "python", "-I", "-c", importer, *modules], cwd=tmp_path).stdout == f"{len(modules)}\n"

    stagecache_bin = venv / "bin" / "stagecache"
    version = run([stagecache_bin, "--version"], cwd=tmp_path)
    assert version.stdout == f"stagecache {stagecache.__version__}\n"

    # `plan` of the bundled example prints what the checkout prints.
    example = tmp_path / "hello"
    shutil.copytree(EXAMPLES / "hello", example, ignore=shutil.ignore_patterns(".stagecache"))
    installed = run([stagecache_bin, "plan", "-C", example], cwd=tmp_path)
    checkout = run([sys.executable, "-m", "stagecache", "plan", "-C", example], cwd=ROOT, env=os.environ.copy())
    assert installed.stdout == checkout.stdout
    assert f"config:     {example / 'stagecache.toml'}\n" in installed.stdout
    assert "target:     runtime-image\n" in installed.stdout
    as_json = json.loads(run([stagecache_bin, "plan", "--json", "-C", example], cwd=tmp_path).stdout)
    assert [s["name"] for s in as_json["stages"]] == ["compile-image", "runtime-image"]
