"""The ``local`` cache mode's folders: one BuildKit local cache (an OCI layout) per stage.

A build exports into a fresh ``.STAGE.incoming`` folder, which replaces the stage's
folder only after the build succeeded, under a lock, so a failed or interrupted bake
leaves the previous cache exactly as it was.

stagecache deletes and replaces folders inside the cache directory, so it only works in a
directory it owns: one it created (marked with a ``CACHEDIR.TAG`` file, the Cache Directory
Tagging convention that backup tools also honour), an empty one, or one that holds nothing
but stagecache's own caches (as left by versions before the tag). :func:`problem` says why
any other directory is refused, and nothing is deleted that is not a stagecache folder.

Stages share most of their blobs (the base image's layers, the upstream stages'
layers). Before a build, its incoming folder is seeded with hard links to the blobs of
the caches it imports. BuildKit's local content store skips a blob that is already
there, and never writes into an existing file (new blobs are written to a temporary
file and renamed in), so a shared blob costs a link instead of a copy, in disk space
and in export time. After the export, the blobs the new cache does not reference are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from stagecache import inputstore
from stagecache.errors import EnvironmentProblem, UsageError
from stagecache.registry import MANIFEST_TYPES

if TYPE_CHECKING:  # pragma: no cover
    from stagecache.config import Config
    from stagecache.plan import BuildPlan, StageBuild


TAG = "CACHEDIR.TAG"
_TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This directory is a stagecache local cache (https://bford.info/cachedir/).\n"
    "# stagecache deletes and replaces folders in it: keep nothing else here.\n"
)
LOCK = ".lock"
_LAYOUT = frozenset({"index.json", "oci-layout", "blobs", "ingest", inputstore.FILE, inputstore.FILE + ".tmp"})
"""What a BuildKit local cache export (an OCI layout) holds, and stagecache's record of the
inputs the cache was built from (stagecache.inputstore)."""


_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}


def is_layout(path: Path) -> bool:
    """Whether ``path`` is a folder that holds only what BuildKit's local cache export writes:
    an ``index.json`` that is an OCI index, ``blobs/<algorithm>/<hex digest>`` files, an
    ``oci-layout`` file and an ``ingest`` folder (an empty folder too). A folder with anything
    else in it, however it is named, is not a cache, and stagecache never replaces it."""
    try:
        if not path.is_dir() or path.is_symlink():
            return False
        entries = {e.name: e for e in path.iterdir()}
        if not set(entries) <= _LAYOUT:
            return False
        index, blobs = entries.get("index.json"), entries.get("blobs")
        if index is not None and not (index.is_file() and _is_oci_index(index)):
            return False
        if "oci-layout" in entries and not entries["oci-layout"].is_file():
            return False
        if "ingest" in entries and not (entries["ingest"].is_dir() and not entries["ingest"].is_symlink()):
            return False
        return blobs is None or _only_blobs(blobs)
    except OSError:
        return False


def _is_oci_index(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("manifests", []), list) and "schemaVersion" in doc


def _only_blobs(blobs: Path) -> bool:
    if not blobs.is_dir() or blobs.is_symlink():
        return False
    for algorithm in blobs.iterdir():
        size = _DIGEST_HEX.get(algorithm.name)
        if size is None or not algorithm.is_dir() or algorithm.is_symlink():
            return False
        for blob in algorithm.iterdir():
            name = blob.name
            if len(name) != size or name.strip("0123456789abcdef") or not blob.is_file() or blob.is_symlink():
                return False
    return True


def _ours(entry: Path) -> bool:
    """An entry stagecache makes in its cache directory: the tag, the lock, a stage's cache,
    or the ``.STAGE.incoming`` / ``.STAGE.old`` folders of a swap."""
    if entry.name == TAG:  # another tool's CACHEDIR.TAG (cargo, pytest) is not stagecache's mark
        try:
            return entry.is_file() and not entry.is_symlink() and entry.read_text(encoding="utf-8") == _TAG_TEXT
        except (OSError, UnicodeDecodeError):
            return False
    if entry.name == LOCK:
        return entry.is_file() and not entry.is_symlink()
    return is_layout(entry)


def problem(d: Path) -> str | None:
    """Why ``d`` cannot be stagecache's cache directory (it holds something stagecache did not
    make), or None. A missing or empty directory is fine."""
    if d.is_symlink():
        return f"{d} is a symbolic link"
    if not d.exists():
        return None
    if not d.is_dir():
        return f"{d} is not a directory"
    foreign = sorted(e.name for e in d.iterdir() if not _ours(e))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        return f"{d} holds files stagecache did not create ({shown})"
    return None


def first_use(config: Config) -> str:
    """What to say when the local cache folder is about to be created."""
    d = config.cache.local_dir
    if config.cache.local_dir_origin == "user":
        return (
            f"the local cache is in {d} (created now). The project's .stagecache/cache would be "
            "sent to the builder with the build context (no .dockerignore line excludes it); "
            "set [cache].local_dir to choose another folder (e.g. one your CI caches)."
        )
    return f"the local cache is in {d} (created now)."


def claim(d: Path) -> None:
    """Create ``d`` if needed and tag it as stagecache's (after :func:`problem` said yes)."""
    d.mkdir(parents=True, exist_ok=True)
    tag = d / TAG
    if not tag.exists():
        tag.write_text(_TAG_TEXT, encoding="utf-8")


@contextlib.contextmanager
def lock(plan: BuildPlan, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Serialise bakes that share a local cache directory, and finish any swap that a
    crash interrupted."""
    if plan.mode.name != "local":
        yield
        return
    d = plan.config.cache.local_dir
    with held(d, on_wait):
        with _disk():
            recover(d)
        yield


@contextlib.contextmanager
def held(d: Path, on_wait: Callable[[str], None]) -> Iterator[None]:
    """The lock of the cache directory ``d`` (created and tagged if needed), held for the
    block; ``on_wait`` is told when another process holds it.

    The lock file is never deleted: a bake waiting on it holds the same file as the next
    one to come, so two bakes can never hold the lock at once."""
    with _disk():
        claim(d)
        fh = open(d / LOCK, "a")  # noqa: SIM115 - closed below, after the block
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"waiting for another stagecache bake that uses {d} ...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _disk() -> Iterator[None]:
    """Turn a failure of the file system (no permission, a full disk, a read-only mount) into
    an error that names the path and what to do, not a traceback."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise EnvironmentProblem(
            f"the local cache folder cannot be used: {exc.strerror or exc}{where}. Check that folder's owner, "
            "permissions and free space, or set [cache].local_dir to another folder."
        ) from None


def recover(d: Path) -> None:
    """Finish a swap that a crash interrupted: '.X.old' without 'X' goes back."""
    for old in d.glob(".*.old"):
        if not is_layout(old):
            continue
        final = d / old.name[1 : -len(".old")]
        if final.exists():
            remove(old)
        else:
            os.replace(old, final)
    for incoming in d.glob(".*.incoming"):
        remove(incoming)


def remove(path: Path) -> None:
    """Delete a folder stagecache made (a cache layout); anything else is left alone."""
    if is_layout(path):
        shutil.rmtree(path, ignore_errors=True)


def prepare(build: StageBuild) -> str | None:
    """A fresh incoming folder for ``build``, seeded with links to the blobs it imports.
    Returns a warning when the blobs could not be linked (the build then writes them again)."""
    if not build.local_swap:
        return None
    incoming = build.local_swap[0]
    sources = [Path(s.get("src") or "") for s in build.cache.cache_from if s.type == "local"]
    with _disk():
        remove(incoming)
        return seed(incoming, [s for s in sources if s.name])


def seed(incoming: Path, sources: list[Path]) -> str | None:
    """Hard-link every blob of the ``sources`` layouts into ``incoming``. Where links are
    impossible (another file system, a full disk), BuildKit simply writes the blobs: that is
    slower and takes more room, so it is said, once, and the seeding stops."""
    target = incoming / "blobs" / "sha256"
    for source in sources:
        blobs = source / "blobs" / "sha256"
        if not blobs.is_dir():
            continue
        target.mkdir(parents=True, exist_ok=True)
        for blob in blobs.iterdir():
            dest = target / blob.name
            if dest.exists() or not blob.is_file():
                continue
            try:
                os.link(blob, dest)
            except OSError as exc:
                return (
                    f"could not hard-link the cached blobs of {source} into {incoming} ({exc.strerror}): this "
                    "stage's cache export writes them again, which is slower and takes more disk."
                )
    return None


def discard(build: StageBuild) -> None:
    """Drop the incoming folder of a build that failed or was interrupted."""
    if build.local_swap:
        with _disk():
            remove(build.local_swap[0])


def keep(build: StageBuild) -> None:
    """After a successful build: the new cache, without the seeded blobs it does not
    use, replaces the old one. An export that did not complete keeps the old one."""
    if not build.local_swap:
        return
    with _disk():
        _keep(*build.local_swap)


def _keep(incoming: Path, final: Path) -> None:
    used = referenced_blobs(incoming)
    blobs = incoming / "blobs" / "sha256"
    present = {b.name for b in blobs.iterdir()} if blobs.is_dir() else set()
    if used is None or not used <= present:
        remove(incoming)
        return
    for name in present - used:
        (blobs / name).unlink()
    _swap_in(incoming, final)


def referenced_blobs(layout: Path) -> set[str] | None:
    """The sha256 hex digests that an OCI layout's index.json reaches (through index and
    manifest blobs), or None when it has no readable index."""
    try:
        index = json.loads((layout / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    seen: set[str] = set()
    todo = list(index.get("manifests") or [])
    while todo:
        desc = todo.pop()
        algorithm, _, digest = str(desc.get("digest", "")).partition(":")
        if algorithm != "sha256" or not digest or digest in seen:
            continue
        seen.add(digest)
        if desc.get("mediaType") in MANIFEST_TYPES:
            try:
                doc = json.loads((layout / "blobs" / "sha256" / digest).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            todo += [*(doc.get("manifests") or []), *(doc.get("layers") or [])]
            if isinstance(doc.get("config"), dict):
                todo.append(doc["config"])
    return seen


def disk_bytes(d: Path) -> int:
    """Bytes the cache folders take on disk: a blob linked into several stages counts once
    (tar, and so CI directory caches such as actions/cache, keep hard links)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in d.rglob("*"):
        if ".incoming" in path.as_posix() or not path.is_file():
            continue
        st = path.stat()
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def _swap_in(incoming: Path, final: Path) -> None:
    old = final.parent / f".{final.name}.old"
    for path in (old, final):
        if (path.exists() or path.is_symlink()) and not is_layout(path):
            # Not a cache stagecache wrote: never replaced (the cache directory is checked
            # before a bake, so this only happens when something else wrote there since).
            raise UsageError(
                f"{path} is not a cache stagecache wrote, so it is not replaced. Move it out of {final.parent}, "
                "which is stagecache's cache directory."
            )
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(incoming, final)
    remove(old)
