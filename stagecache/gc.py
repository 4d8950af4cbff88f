"""``stagecache gc``: remove the caches, input records and stage images that stagecache made
and no longer needs, in the registry and in the local cache folder.

The pipeline: find the branches that are alive (:func:`alive_branches`), read the
repository's tags against the templates (stagecache.gcselect), keep every tag that is not
proven stagecache's or that shares its manifest with a kept tag, then (with ``yes``) delete
by digest. A dry run reads only.

What is proven stagecache's (and so may be deleted):
- a cache ref whose manifest is a BuildKit cache (its cache config media type);
- an input record (stagecache.inputstore's media type);
- a stage image whose digest the record beside the same branch's and stage's cache names
  (registry mode), or whose config holds BuildKit's inline cache (inline mode).
A tag that a template makes but that is not proven so (a release tag ``v1.2-rc1`` read as
branch ``v1.2``, stage ``rc1``; the classic mode's images) is listed as kept, with the reason.

The registry deletes a manifest by digest, and every tag that points to it goes with it: a
manifest that any kept tag points to is never deleted (the dead tag stays, listed as kept).
Before the first delete, each repository is asked whether it takes deletes at all; a refusal
deletes nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from stagecache import ci, gcselect, inputstore, localcache
from stagecache.errors import EnvironmentProblem, RegistryError, StagecacheError, UsageError
from stagecache.preflight import check_local_dir
from stagecache.registry import Reach

if TYPE_CHECKING:  # pragma: no cover
    from stagecache.inputs import StageInputs
    from stagecache.plan import BuildPlan
    from stagecache.registry import RegistryClient

SCHEMA = "stagecache.gc/v1"
_CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0"
_DAY = 86400.0


@dataclass(frozen=True)
class Entry:
    """One thing gc removes, or would remove but keeps (``kept`` says why)."""

    where: str
    """"registry" or "local"."""
    name: str
    """``host/repository:tag``, or the folder's path."""
    kind: str
    """"cache", "record", "image" (registry); "cache", "incoming" (local folders)."""
    branch: str
    stage: str
    reason: str
    """Why it goes: "branch 'x' is not alive", "stage 'y' is not in the Dockerfile", ..."""
    digest: str = ""
    size: int = 0
    written: float | None = None
    """When the record of its branch and stage was written (seconds since the epoch)."""
    kept: str = ""
    deleted: bool = False
    frees: int = 0
    """Bytes deleting it frees: its blobs that no kept tag (nor an entry listed before it)
    reaches; a folder's files that no other folder links."""
    children: tuple[str, ...] = ()
    """The manifests under it (an index's platform manifests and attestations) that no kept
    tag needs: deleted after it, so that the registry's garbage collector frees their blobs."""

    def to_json(self, now: float) -> dict[str, object]:
        """The entry as the JSON report has it."""
        return {
            "where": self.where,
            "name": self.name,
            "kind": self.kind,
            "branch": self.branch,
            "stage": self.stage,
            "reason": self.reason,
            "digest": self.digest,
            "size": self.size,
            "age_days": None if self.written is None else round((now - self.written) / _DAY, 2),
            "kept": self.kept,
            "deleted": self.deleted,
            "children": list(self.children),
        }


@dataclass
class Report:
    """What gc found and did."""

    dry_run: bool
    alive: tuple[str, ...]
    alive_from: str
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failure: str = ""

    @property
    def freed(self) -> int:
        """Bytes the deletes free (a dry run: would free): blobs no kept tag reaches, and the
        folders' files."""
        return sum(e.frees for e in self.entries if (e.deleted or self.dry_run) and not e.kept)

    @property
    def doomed(self) -> list[Entry]:
        """The entries to delete (or deleted)."""
        return [e for e in self.entries if not e.kept]

    def to_json(self, now: float | None = None) -> dict[str, object]:
        """The report as ``--json`` prints it (schema stagecache.gc/v1)."""
        now = time.time() if now is None else now
        return {
            "schema": SCHEMA,
            "dry_run": self.dry_run,
            "alive": list(self.alive),
            "alive_from": self.alive_from,
            "entries": [e.to_json(now) for e in self.entries],
            "freed_bytes": self.freed,
            "notes": self.notes,
            "failure": self.failure,
        }


class GcFailed(RegistryError):
    """A delete failed part-way (exit 5); ``report`` says what was deleted before."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Liveness:
    """How the alive branches are found: named (``--keep-branch``), the heads of a git remote
    (``--remote``), or those whose newest record is younger than ``max_age`` days."""

    keep: tuple[str, ...] = ()
    remote: str = ""
    max_age: float | None = None


def remote_heads(root: Path, remote: str) -> tuple[str, ...]:
    """The branch names ``git ls-remote --heads REMOTE`` lists in ``root``."""
    if remote.startswith("-"):
        raise UsageError(f"--remote {remote!r}: a remote name cannot start with '-'.")
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-remote", "--heads", "--", remote],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EnvironmentProblem(f"git ls-remote --heads {remote} could not run in {root}: {exc}.") from None
    if out.returncode != 0:
        said = " ".join(out.stderr.split())[:300].rstrip(".")
        if "not a git repository" in said or "does not appear to be a git repository" in said:
            raise UsageError(
                f"--remote {remote}: git cannot read that remote in {root} ({said}). --remote needs the project's git "
                "checkout and the name of one of its remotes (`git remote -v`); or name the alive branches with "
                "--keep-branch."
            )
        raise EnvironmentProblem(
            f"git ls-remote --heads {remote} failed in {root} (exit {out.returncode}): {said}. Check the remote's "
            "name and access, or name the alive branches with --keep-branch."
        )
    return tuple(line.split("refs/heads/", 1)[1] for line in out.stdout.splitlines() if "\trefs/heads/" in line)


def collect(plan: BuildPlan, liveness: Liveness, clients: Clients) -> Report:
    """What gc would delete for ``plan``'s project: reads only."""
    config = plan.config
    fallback = config.cache.fallback_branch
    alive = {fallback, *liveness.keep}
    sources = ["the fallback branch"]
    if liveness.keep:
        sources.append("--keep-branch")
    if liveness.remote:
        alive.update(remote_heads(config.root, liveness.remote))
        sources.append(f"the heads of git remote '{liveness.remote}'")
    if liveness.max_age is not None:
        if plan.mode.name not in ("registry", "inline"):
            raise UsageError(
                f"--max-age reads the branches' input records in the registry (beside the caches of registry mode, "
                f"the stage images of inline mode), and cache mode '{plan.mode.name}' keeps none there"
                + (
                    "; the local cache folder has no branches."
                    if plan.mode.name == "local"
                    else ". Name the alive branches with --keep-branch or --remote."
                )
            )
        sources.append(f"a record written within {liveness.max_age:g} days")
    report = Report(True, (), ", ".join(sources))
    stages = sorted({s.label for g in plan.graphs for s in g.stages})
    templates = _templates(plan)
    current = config.branch or (ci.detect_branch(os.environ, config.root)[0] or "")
    stale_stages = current == fallback
    if not stale_stages:
        which = f"this is branch '{current}'" if current else "the branch of this checkout is not known"
        report.notes.append(
            f"{which}, not the fallback branch '{fallback}': no stage is collected for being gone from the "
            f"Dockerfile (another branch's Dockerfile says nothing of the fallback branch's stages). Run gc on the "
            f"fallback branch, or pass --branch {fallback} if this is its checkout."
        )
    if any(t.has_branch for t in templates) and len(sources) == 1:
        report.notes.append(
            "no --keep-branch, --remote or --max-age: only the fallback branch "
            f"'{fallback}' is alive, and every other branch's caches and images are listed."
        )
    for repository in dict.fromkeys(t.repository for t in templates):
        _collect_repository(report, plan, templates, repository, stages, alive, liveness, clients, stale_stages)
    if plan.mode.name == "local":
        check_local_dir(plan)  # a folder with files stagecache did not make is refused, as bake refuses it
        _collect_local(report, plan.config.cache.local_dir, stages, stale_stages)
    report.alive = tuple(sorted(alive))
    return report


def _templates(plan: BuildPlan) -> list[gcselect.Template]:
    """The templates whose tags gc reads: the cache ref's (registry mode) and the stage
    tag's (when stage images are pushed)."""
    config = plan.config
    registry = plan.mode.name == "registry"
    # In another mode the cache ref template only marks the tags a registry-mode bake left in the
    # same repository, so that they are never read as this mode's stage images.
    out = [gcselect.split("cache" if registry else "other", config.cache.ref, config.image, "[cache].ref", registry)]
    if config.push_enabled and config.image:
        inline = plan.mode.name == "inline"
        out.append(gcselect.split("image", config.cache.tag, config.image, "[cache].tag", inline))
    if not registry and len(out) == 1:
        return []  # nothing of this mode in the registry
    return out


class Clients:
    """One RegistryClient per registry host, with the docker credentials for it."""

    def __init__(self) -> None:
        self._clients: dict[str, RegistryClient] = {}

    def __call__(self, host: str) -> RegistryClient:
        from stagecache.registry import RegistryClient, docker_credentials

        if host not in self._clients:
            self._clients[host] = RegistryClient(host, credentials=docker_credentials(host))
        return self._clients[host]

    def close(self) -> None:
        """Close every connection."""
        for client in self._clients.values():
            client.close()


def _collect_repository(
    report: Report,
    plan: BuildPlan,
    templates: list[gcselect.Template],
    repository: str,
    stages: list[str],
    alive: set[str],
    liveness: Liveness,
    clients: Clients,
    stale_stages: bool,
) -> None:
    host, repo, _ = inputstore.split_ref(repository + ":x")
    client = clients(host)
    fallback = plan.config.cache.fallback_branch
    tags = client.tags(repo)

    def read_all() -> dict[str, gcselect.Reading]:
        selector = gcselect.Selector(templates, sorted(alive), fallback, stages, repository, stale_stages)
        return {t: r for t in tags if (r := selector.read(t)) is not None}

    fetched: dict[str, tuple[StageInputs, float | None] | None] = {}

    def record_at(tag: str) -> tuple[StageInputs, float | None] | None:
        """The record at ``tag`` and when it was written, fetched once."""
        if tag not in fetched:
            fetched[tag] = inputstore.fetch(client, repo, tag)
        return fetched[tag]

    readings = read_all()
    if liveness.max_age is not None:
        # Every record says its stage, so its tag says its branch (no other reading of it is
        # possible): a branch that wrote one within max_age days is alive, whatever its name.
        selector = gcselect.Selector(templates, sorted(alive), fallback, stages, repository, stale_stages)
        newest: dict[str, float] = {}
        for tag in tags:
            found = record_at(tag) if tag.endswith(inputstore.SUFFIX) else None
            branch = selector.branch_of(tag, found[0].stage) if found is not None else None
            if found is not None and branch is not None and found[1] is not None:
                newest[branch] = max(newest.get(branch, 0.0), found[1])
        recent = {b for b, w in newest.items() if time.time() - w <= liveness.max_age * _DAY}
        if recent - alive:
            alive.update(recent)
            readings = read_all()
    records = {
        (r.branch, r.stage): (r.tag, *found)
        for r in readings.values()
        if r.kind == "record" and (found := record_at(r.tag)) is not None and found[0].stage == r.stage
    }
    # Every tag is read before anything is decided, and one that cannot be read stops gc: a
    # kept tag must be seen to be kept (its digest, and the manifests under it).
    reach: dict[str, Reach] = {}
    for tag in tags:
        try:
            reach[tag] = client.reachable(repo, tag, strict=True)
        except RegistryError:
            reach[tag] = Reach(None, set(), {})
        if not (reach[tag].manifest or {}).get("_digest"):
            raise RegistryError(
                f"{repository}: the manifest of tag '{tag}' could not be read, so stagecache gc cannot tell "
                "what a delete would take with it, and deletes nothing. Check the registry and the credentials, "
                "and run gc again."
            )
    digests = {t: str((reach[t].manifest or {})["_digest"]) for t in tags}
    doomed: list[Entry] = []
    for tag, r in readings.items():
        if not r.reason:
            continue
        record = records.get((r.branch, r.stage))
        entry = Entry(
            "registry",
            f"{repository}:{tag}",
            r.kind,
            r.branch,
            r.stage,
            r.reason,
            digests[tag],
            written=record[2] if record is not None else None,
        )
        proof = _unproven(r, reach[tag].manifest or {}, record, digests[tag], plan.mode.name)
        doomed.append(replace(entry, kept=proof))
    # The manifests a kept tag needs: its own, and those under it (an image index's platform
    # manifests and attestations). None of them may be deleted.
    kept_by_digest: dict[str, str] = {}
    proven = {_tag(e) for e in doomed if not e.kept}
    for tag in tags:
        if tag not in proven:
            for digest in (digests[tag], *sorted(reach[tag].manifests)):
                kept_by_digest.setdefault(digest, tag)
    for i, e in enumerate(doomed):
        kept = e.kept
        if not kept and e.digest in kept_by_digest:
            kept = (
                f"shares its manifest with the kept tag '{kept_by_digest[e.digest]}': the registry deletes by "
                "digest, which would delete that tag too"
            )
        children = tuple(sorted(reach[_tag(e)].manifests - set(kept_by_digest)))
        doomed[i] = replace(e, size=sum(reach[_tag(e)].blobs.values()), kept=kept, children=children)
    # A record goes only with what it proves stagecache's: while the cache or the image of its
    # branch and stage stays (it shares a kept tag's manifest), the record stays too, so that a
    # later gc can still prove them.
    by_key = {(e.branch, e.stage, e.kind): e for e in doomed}
    for i, e in enumerate(doomed):
        if e.kind == "record" and not e.kept:
            stays = [o for k in ("cache", "image") if (o := by_key.get((e.branch, e.stage, k))) and o.kept]
            if stays:
                doomed[i] = replace(e, kept=f"'{_tag(stays[0])}' stays, and this record is what proves it stagecache's")
    going = {_tag(e) for e in doomed if not e.kept}
    counted = {b for t in tags if t not in going for b in reach[t].blobs}  # what kept tags reach stays
    order = {"image": 0, "cache": 1, "record": 2}
    for e in sorted(doomed, key=lambda e: (e.branch, e.stage, order.get(e.kind, 3), e.name)):
        frees = 0
        if not e.kept:  # a blob several entries reach counts for the first of them
            frees = sum(s for b, s in reach[_tag(e)].blobs.items() if b not in counted)
            counted.update(reach[_tag(e)].blobs)
        report.entries.append(replace(e, frees=frees))


def _tag(entry: Entry) -> str:
    """The tag of a registry entry."""
    return entry.name.rpartition(":")[2]


def _unproven(
    reading: gcselect.Reading,
    manifest: dict,
    record: tuple[str, StageInputs, float | None] | None,
    digest: str,
    mode: str,
) -> str:
    """Why the manifest at ``reading.tag`` is not shown to be stagecache's ("" when it is)."""
    if reading.kind == "record":
        held = record is not None and record[0] == reading.tag
        return "" if held else "it holds no stagecache input record of this stage"
    if reading.kind == "cache":
        return "" if _is_cache(manifest) else "its manifest is not a BuildKit cache"
    if _is_cache(manifest):
        return "its manifest is a BuildKit cache, not a stage image"
    # The record of its branch and stage names it: as the image its bake pushed, or (inline
    # mode, where the image is the cache and the record sits beside it) as its cache.
    if record is not None and (record[1].image == digest or (mode == "inline" and record[1].cache == digest)):
        return ""
    keeps = "the classic mode keeps none" if mode == "classic" else "an image pushed before records were kept"
    return (
        "not shown to be stagecache's: no input record of its branch and stage names this image "
        f"({keeps}); remove it by hand if it is"
    )


def _is_cache(manifest: dict) -> bool:
    """Whether ``manifest`` is a BuildKit registry cache: an image manifest whose config, or an
    index one of whose entries, is of the cache config's media type."""
    config = manifest.get("config")
    if isinstance(config, dict) and config.get("mediaType") == _CACHE_CONFIG:
        return True
    return any(isinstance(m, dict) and m.get("mediaType") == _CACHE_CONFIG for m in manifest.get("manifests") or [])


def _collect_local(report: Report, d: Path, stages: list[str], stale_stages: bool) -> None:
    """The ``.STAGE.incoming`` folders a stopped bake left, and (``stale_stages``) the stage
    folders of stages the Dockerfile no longer has, read under the bake's lock."""
    if not d.is_dir():
        return
    with localcache.held(d, report.notes.append):
        found: list[Entry] = []
        for entry in sorted(d.iterdir()):
            if not localcache.is_layout(entry):
                continue
            name = entry.name
            if re.fullmatch(r"\.(.+)\.incoming", name):
                found.append(
                    Entry("local", str(entry), "incoming", "", name[1:-9], "left by a bake that stopped before its end")
                )
            elif stale_stages and not name.startswith(".") and name not in stages and (entry / "index.json").is_file():
                gone = f"stage '{name}' is not in the Dockerfile"
                found.append(Entry("local", str(entry), "cache", "", name, gone, written=_written(entry)))
        sizes = _local_sizes([Path(e.name) for e in found])
        report.entries.extend(replace(e, size=sizes[e.name], frees=sizes[e.name]) for e in found)


def _written(folder: Path) -> float | None:
    """When the record in a local cache folder was written, if it says."""
    try:
        return inputstore.written(json.loads((folder / inputstore.FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _local_sizes(folders: list[Path]) -> dict[str, int]:
    """Bytes each folder frees: a file counts where all its hard links are in the folders."""
    links: dict[tuple[int, int], list[tuple[str, int, int]]] = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                st = path.stat()
                links.setdefault((st.st_dev, st.st_ino), []).append((str(folder), st.st_size, st.st_nlink))
    sizes = dict.fromkeys((str(f) for f in folders), 0)
    for found in links.values():
        owner, size, nlink = found[0]
        if len(found) >= nlink:
            sizes[owner] += size
    return sizes


def apply(report: Report, clients: Clients) -> Report:
    """Delete what ``report`` lists (not kept): first ask each repository whether it takes
    deletes (a refusal deletes nothing), then delete by digest, each entry's own manifest
    before those under it. ``report`` says what was deleted however this ends; GcFailed
    (exit 5) when a delete fails part-way."""
    report.dry_run = False
    doomed = report.doomed
    repositories = sorted({e.name.rpartition(":")[0] for e in doomed if e.where == "registry"})
    try:
        for repository in repositories:
            host, repo, _ = inputstore.split_ref(repository + ":x")
            _check_deletes(clients(host).deletes_allowed(repo), repository)
    except StagecacheError as exc:
        report.failure = exc.message
        raise
    try:
        _delete_registry(report, clients)
        _delete_local(report)
    except GcFailed:
        raise
    except KeyboardInterrupt:
        report.failure = "interrupted"
        raise
    except (StagecacheError, OSError, ValueError) as exc:
        report.failure = str(exc)
        raise GcFailed(
            f"stagecache gc stopped part-way: {exc}. What was deleted before is listed above; run gc again to go on.",
            report,
        ) from None
    return report


def _delete_registry(report: Report, clients: Clients) -> None:
    done: set[tuple[str, str]] = set()
    for i, e in enumerate(report.entries):
        if e.kept or e.where != "registry":
            continue
        repository = e.name.rpartition(":")[0]
        host, repo, _ = inputstore.split_ref(e.name)
        for digest in (e.digest, *e.children):  # its own first: the tag is gone once it is
            if (repository, digest) not in done:
                status = clients(host).delete_manifest(repo, digest)
                if status == 404 and clients(host).digest(repo, digest):
                    status = 0  # "not found", yet there: the delete did not happen
                if status not in (200, 202, 404):
                    said = f"HTTP {status}" if status else "HTTP 404, and the manifest is still there"
                    report.failure = f"{e.name} ({digest}): the registry answered {said} to the delete"
                    raise GcFailed(
                        f"stagecache gc stopped part-way: deleting {e.name} ({digest}) failed ({said}). "
                        "What was deleted before is listed above; run gc again to go on.",
                        report,
                    )
                done.add((repository, digest))
            report.entries[i] = replace(e, deleted=True)


def _delete_local(report: Report) -> None:
    """Remove the listed folders under one hold of the cache folder's lock, each only if it
    is still a cache layout (a bake may have run since it was listed)."""
    local = [(i, e) for i, e in enumerate(report.entries) if e.where == "local" and not e.kept]
    if not local:
        return
    with localcache.held(Path(local[0][1].name).parent, report.notes.append):
        for i, e in local:
            folder = Path(e.name)
            if not localcache.is_layout(folder):
                report.entries[i] = replace(e, kept="no longer a cache folder when gc came to delete it")
                continue
            localcache.remove(folder)
            if folder.exists():
                raise OSError(f"{folder} could not be removed")
            report.entries[i] = replace(e, deleted=True)


def _check_deletes(status: int, repository: str) -> None:
    """RegistryError when the registry does not take deletes (asked before any delete)."""
    if status in (200, 202, 404):
        return
    if status == 405:
        raise RegistryError(
            f"{repository}: the registry does not allow deletes (HTTP 405), so stagecache gc deleted nothing. For "
            "a distribution registry (registry:2), set storage.delete.enabled: true in its config and restart it. A "
            "hosted registry cleans up with its own tools: GitHub's package retention (or the packages API) for "
            "ghcr.io, a lifecycle policy for ECR, cleanup policies for Artifact Registry, retention rules for "
            "Harbor."
        )
    if status in (401, 403):
        raise RegistryError(
            f"{repository}: the registry refused to let these credentials delete (HTTP {status}), so stagecache "
            "gc deleted nothing. Log in (docker login) as a user with delete rights on the repository."
        )
    raise RegistryError(
        f"{repository}: the registry answered HTTP {status} when asked whether it takes deletes, so stagecache gc "
        "deleted nothing."
    )
