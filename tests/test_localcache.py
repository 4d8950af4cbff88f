"""The local cache folders: seeding with hard links, pruning what the new index does not
reach, and the swap that keeps the old cache when the export did not complete."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from stagecache import config as cfg
from stagecache import localcache
from stagecache.plan import make_plan

INDEX = "application/vnd.oci.image.index.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CACHECONFIG = "application/vnd.buildkit.cacheconfig.v0"


def blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # as BuildKit's content store: a blob that is there is not written again
        path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def cache_layout(layout: Path, *layers: bytes) -> dict[str, str]:
    """A BuildKit-style local cache: index.json -> cache index -> layers + cache config."""
    descs = [{"mediaType": LAYER, **blob(layout, data)} for data in layers]
    config = {"mediaType": CACHECONFIG, **blob(layout, b'{"layers": []}' + b"".join(layers))}
    cache_index = {"mediaType": INDEX, **blob(layout, json.dumps({"manifests": [*descs, config]}).encode())}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [cache_index]}))
    names = {"index": cache_index["digest"][7:], "config": config["digest"][7:]}
    names.update({data.decode(): d["digest"][7:] for data, d in zip(layers, descs, strict=True)})
    return names


def test_referenced_blobs_follow_the_index_to_layers_and_config(tmp_path: Path) -> None:
    names = cache_layout(tmp_path, b"base", b"deps")
    blob(tmp_path, b"left over from the seed")
    assert localcache.referenced_blobs(tmp_path) == set(names.values())
    assert localcache.referenced_blobs(tmp_path / "missing") is None


def test_seed_links_and_keep_prunes_then_swaps(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox AS base\nRUN true\nFROM base AS app\nRUN true\n")
    (tmp_path / ".dockerignore").write_text(".stagecache\n")
    (tmp_path / "stagecache.toml").write_text('[cache]\nmode = "local"\n')
    plan = make_plan(cfg.load(tmp_path / "stagecache.toml", env={}))
    app = plan.builds[1]
    incoming, final = app.local_swap
    base_cache = plan.config.cache.local_dir / "base"
    base_names = cache_layout(base_cache, b"base")

    # First bake: the incoming folder starts with links to the upstream cache's blobs.
    localcache.prepare(app)
    seeded = incoming / "blobs" / "sha256"
    assert {p.name for p in seeded.iterdir()} == set(base_names.values())
    assert all((seeded / n).samefile(base_cache / "blobs" / "sha256" / n) for n in base_names.values())
    v1 = cache_layout(incoming, b"base", b"app v1")  # what BuildKit's export adds
    localcache.keep(app)
    assert not incoming.exists()
    assert {p.name for p in (final / "blobs" / "sha256").iterdir()} == set(v1.values())
    assert (final / "blobs" / "sha256" / v1["base"]).stat().st_nlink == 2  # one file, two caches
    files = [f for f in plan.config.cache.local_dir.rglob("*") if f.is_file() and f.name != ".lock"]
    on_disk = localcache.disk_bytes(plan.config.cache.local_dir)
    assert on_disk == sum(f.stat().st_size for f in files) - len(b"base")  # the shared blob counts once

    # Second bake: seeded from its own old cache too; what the new index does not reach goes.
    localcache.prepare(app)
    v2 = cache_layout(incoming, b"base", b"app v2")
    assert (incoming / "blobs" / "sha256" / v1["app v1"]).exists()
    localcache.keep(app)
    assert {p.name for p in (final / "blobs" / "sha256").iterdir()} == set(v2.values())
    assert (final / "blobs" / "sha256" / v2["base"]).stat().st_nlink == 2
    assert localcache.referenced_blobs(base_cache) == set(base_names.values())  # upstream untouched


def test_an_incomplete_export_keeps_the_old_cache(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox AS app\nRUN true\n")
    (tmp_path / ".dockerignore").write_text(".stagecache\n")
    (tmp_path / "stagecache.toml").write_text('[cache]\nmode = "local"\n')
    app = make_plan(cfg.load(tmp_path / "stagecache.toml", env={})).builds[0]
    incoming, final = app.local_swap
    old = cache_layout(final, b"app v1")
    localcache.prepare(app)
    names = cache_layout(incoming, b"app v2")
    (incoming / "blobs" / "sha256" / names["app v2"]).unlink()  # the index names a blob that is not there
    localcache.keep(app)
    assert not incoming.exists()
    assert localcache.referenced_blobs(final) == set(old.values())
