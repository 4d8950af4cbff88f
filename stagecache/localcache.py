"""The ``local`` cache mode's folders: one BuildKit local cache (an OCI layout) per stage.

A build exports into a fresh ``.STAGE.incoming`` folder, which replaces the stage's
folder only after the build succeeded, under a lock, so a failed or interrupted bake
leaves the previous cache exactly as it was.

Stages share most of their blobs (the base image's layers, the upstream stages'
layers). Before a build, its incoming folder is seeded with hard links to the blobs of
the caches it imports. BuildKit's local content store skips a blob that is already
there, and never writes into an existing file (new blobs are written to a temporary
file and renamed in), so a shared blob costs a link instead of a copy, in disk space
and in export time: on examples/gcc a fully cached stage's export went from 2.6 s to
0.3 s. After the export, the blobs the new cache does not reference are removed.
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

if TYPE_CHECKING:  # pragma: no cover
    from stagecache.plan import BuildPlan, StageBuild

_MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)


@contextlib.contextmanager
def lock(plan: BuildPlan, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Serialise bakes that share a local cache directory, and finish any swap that a
    crash interrupted. A first bake that kept no cache leaves no folders behind."""
    if plan.mode.name != "local":
        yield
        return
    d = plan.config.cache.local_dir
    created = [p for p in (d, *d.parents) if not p.exists()]
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"waiting for another stagecache bake that uses {d} ...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            recover(d)
            yield
        finally:
            if created and [e.name for e in d.iterdir()] == [".lock"]:
                (d / ".lock").unlink()
                for folder in created:
                    with contextlib.suppress(OSError):
                        folder.rmdir()
            fcntl.flock(fh, fcntl.LOCK_UN)


def recover(d: Path) -> None:
    """Finish a swap that a crash interrupted: '.X.old' without 'X' goes back."""
    for old in d.glob(".*.old"):
        final = d / old.name[1 : -len(".old")]
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, final)
    for incoming in d.glob(".*.incoming"):
        shutil.rmtree(incoming, ignore_errors=True)


def prepare(build: StageBuild) -> None:
    """A fresh incoming folder for ``build``, seeded with links to the blobs it imports."""
    if not build.local_swap:
        return
    incoming = build.local_swap[0]
    shutil.rmtree(incoming, ignore_errors=True)
    sources = [Path(s.get("src") or "") for s in build.cache.cache_from if s.type == "local"]
    seed(incoming, [s for s in sources if s.name])


def seed(incoming: Path, sources: list[Path]) -> None:
    """Hard-link every blob of the ``sources`` layouts into ``incoming``. Where links are
    impossible (another file system), BuildKit simply writes the blobs."""
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
            except OSError:
                return


def discard(build: StageBuild) -> None:
    """Drop the incoming folder of a build that failed or was interrupted."""
    if build.local_swap:
        shutil.rmtree(build.local_swap[0], ignore_errors=True)


def keep(build: StageBuild) -> None:
    """After a successful build: the new cache, without the seeded blobs it does not
    use, replaces the old one. An export that did not complete keeps the old one."""
    if not build.local_swap:
        return
    incoming, final = build.local_swap
    used = referenced_blobs(incoming)
    blobs = incoming / "blobs" / "sha256"
    present = {b.name for b in blobs.iterdir()} if blobs.is_dir() else set()
    if used is None or not used <= present:
        shutil.rmtree(incoming, ignore_errors=True)
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
        if desc.get("mediaType") in _MANIFEST_TYPES:
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
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(incoming, final)
    shutil.rmtree(old, ignore_errors=True)
