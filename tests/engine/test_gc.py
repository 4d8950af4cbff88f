"""`stagecache gc` against the real registry: branches baked for real, then collected with
only the fallback branch alive. What the fallback branch keeps must be byte for byte what it
had (the same digests); a dead branch's own manifests go; a dead tag whose manifest a kept tag
shares stays (the registry deletes by digest); the registry's garbage collector then frees
the dead branch's blobs on disk."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.engine.conftest import OwnRegistry, Project

STAGECACHE = str(Path(sys.executable).parent / "stagecache")
BRANCH_REFS = 'ref = "{image}:cache-{branch}-{stage}"\n'


def gc(p: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STAGECACHE, "gc", "-C", str(p.root), *args], capture_output=True, text=True)


def by_tag(p: Project, prefix: str = "") -> dict[str, str]:
    """tag -> manifest digest, of the project's repository (tags starting with ``prefix``)."""
    client = p.registry
    return {t: client.digest(p.repo, t) for t in client.tags(p.repo) if t.startswith(prefix)}


def blob_files(registry_data: Path, digests: set[str]) -> set[str]:
    """The digests among ``digests`` whose blob file the registry still has on disk."""
    root = registry_data / "docker" / "registry" / "v2" / "blobs" / "sha256"
    return {d for d in digests if (root / d[7:9] / d[7:] / "data").is_file()}


def test_gc_keeps_main_byte_for_byte_removes_a_dead_branch_and_spares_a_shared_manifest(
    make_project, own_registry
) -> None:
    registry: OwnRegistry = own_registry()
    p: Project = make_project("hello")
    p.registry_addr = registry.addr
    p.configure("registry", extra=BRANCH_REFS)
    p.bake(branch="main")
    # A record says when it was written, to the second: two records of the same inputs written
    # in one second are one manifest, which gc must spare (as below). feature-copy's must differ.
    time.sleep(1.1)
    # feature-copy changes nothing: its first bake copies main's manifests to its own refs
    # (the same digests). feature-edit changes the source: its compile and runtime caches
    # and images are its own.
    p.bake(branch="feature-copy")
    p.append("hello.c", "/* edited on the branch */")
    p.bake(branch="feature-edit")
    (p.root / "hello.c").write_text((p.root / "hello.c").read_text().replace("/* edited on the branch */\n", ""))
    main = by_tag(p, "cache-main-") | by_tag(p, "main-")
    assert set(main) == {
        f"{kind}{stage}{suffix}"
        for stage in ("compile-image", "runtime-image")
        for kind, suffix in (("cache-main-", ""), ("cache-main-", ".inputs"), ("main-", ""))
    }
    edit = by_tag(p, "cache-feature-edit-") | by_tag(p, "feature-edit-")
    copy = by_tag(p, "cache-feature-copy-") | by_tag(p, "feature-copy-")
    assert copy["cache-feature-copy-runtime-image"] == main["cache-main-runtime-image"]
    # The dead branches' own manifests: every one of feature-edit's, and feature-copy's input
    # records (written by its own bake); feature-copy's caches and images are main's manifests,
    # which stay, and so do the records that prove them stagecache's.
    own = {t for t, d in (edit | copy).items() if d not in main.values()}
    assert set(edit) <= own and {t for t in copy if t.endswith(".inputs")} <= own
    assert {t for t in copy if not t.endswith(".inputs")} == set(copy) - own
    gone = set(edit)
    client = p.registry
    main_blobs = {b for t in main for b in client.blob_digests(p.repo, t)}
    only_edit = {b for t in edit for b in client.blob_digests(p.repo, t)} - main_blobs
    assert only_edit, "the edited branch has blobs of its own"

    dry = gc(p, "--keep-branch", "main", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["schema"] == "stagecache.gc/v1" and report["dry_run"] is True and report["alive"] == ["main"]
    listed = {e["name"].rpartition(":")[2]: e for e in report["entries"]}
    assert set(listed) == set(edit) | set(copy)
    assert all(e["reason"].startswith("branch 'feature-") for e in listed.values())
    assert {t for t, e in listed.items() if not e["kept"]} == gone
    said = listed["cache-feature-copy-runtime-image"]["kept"]
    assert "shares its manifest with the kept tag 'cache-main-runtime-image'" in said
    assert listed["cache-feature-copy-runtime-image.inputs"]["kept"] == (
        "'cache-feature-copy-runtime-image' stays, and this record is what proves it stagecache's"
    )
    assert by_tag(p) == main | edit | copy  # a dry run deletes nothing

    done = gc(p, "--keep-branch", "main", "--yes")
    assert done.returncode == 0, done.stderr
    assert "deleted:" in done.stdout and "cache-feature-edit-runtime-image" in done.stdout
    after = by_tag(p)
    assert {t: after.get(t) for t in main} == main  # main's refs and images, the same digests
    assert not gone & set(after)  # the dead branch's own manifests are gone
    assert {t for t in after if t.startswith(("cache-feature-", "feature-"))} == set(copy)

    assert blob_files(registry.data, only_edit) == only_edit
    registry.stop()
    collected = subprocess.run(
        ["docker-registry", "garbage-collect", str(registry.config)], capture_output=True, text=True
    )
    assert collected.returncode == 0, collected.stderr
    assert blob_files(registry.data, only_edit) == set()  # freed on disk
    assert blob_files(registry.data, main_blobs) == main_blobs
    registry.start()
    assert by_tag(p) == after

    again = gc(p, "--keep-branch", "main", "--keep-branch", "feature-copy", "--yes", "--json")
    assert again.returncode == 0, again.stderr
    assert [e for e in json.loads(again.stdout)["entries"] if e["deleted"]] == []


def test_gc_deletes_nothing_on_a_registry_that_refuses_deletes(make_project, own_registry) -> None:
    registry: OwnRegistry = own_registry(delete=False)
    p: Project = make_project("hello")
    p.registry_addr = registry.addr
    p.configure("registry", extra=BRANCH_REFS)
    p.bake(branch="main")
    p.append("hello.c", "/* edited on the branch */")
    p.bake(branch="feature")
    before = by_tag(p)
    done = gc(p, "--yes")
    assert done.returncode == 5, (done.stdout, done.stderr)
    assert "storage.delete.enabled: true" in done.stderr and "deleted nothing" in done.stderr
    assert by_tag(p) == before


def test_gc_removes_the_stage_the_dockerfile_no_longer_has_and_keeps_tags_it_did_not_make(make_project) -> None:
    p: Project = make_project("hello")
    p.configure("registry")
    p.bake()
    client = p.registry
    # A tag the stage tag template could make ("{image}:{stage}"), pushed by someone else: a
    # copy of the runtime image under "release". gc never deletes it, nor the manifest it shares.
    client.copy_manifest(p.repo, "runtime-image", "release")
    dockerfile = p.root / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("compile-image", "build-image"))
    before = by_tag(p)
    done = gc(p, "--branch", "main", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    entries = {e["name"].rpartition(":")[2]: e for e in json.loads(done.stdout)["entries"]}
    gone = {"cache-compile-image", "cache-compile-image.inputs", "compile-image"}
    assert {t for t, e in entries.items() if e["deleted"]} == gone
    assert all(entries[t]["reason"] == "stage 'compile-image' is not in the Dockerfile" for t in gone)
    assert "release" in entries and "not shown to be stagecache's" in entries["release"]["kept"]
    assert by_tag(p) == {t: d for t, d in before.items() if t not in gone}
