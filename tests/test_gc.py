"""`stagecache gc` without an engine: how tags are read against the templates (pure), and the
whole command against a small registry served on loopback (tests/loopback_http.py) that keeps
its manifests in memory: what is listed, what is deleted by digest, a refusal, a failure
part-way, pagination, the local cache folder. The real registry is in tests/engine/test_gc.py."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.parse
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stagecache import gcselect, inputstore
from stagecache.cli import app
from stagecache.errors import UsageError
from stagecache.inputs import StageInputs
from stagecache.registry import RegistryClient
from tests.loopback_http import LoopbackServer, Reply, Seen

runner = CliRunner()
DOCKERFILE = "FROM alpine AS build\nRUN make\nFROM alpine AS runtime\nCOPY --from=build /a /a\n"
BRANCH_REFS = '[cache]\nmode = "registry"\nref = "{image}:cache-{branch}-{stage}"\n'


def reading(selector: gcselect.Selector, tag: str) -> tuple[str, str, str, str] | None:
    r = selector.read(tag)
    return None if r is None else (r.kind, r.branch, r.stage, r.reason)


def test_tags_are_read_against_the_templates() -> None:
    templates = [
        gcselect.split("cache", "{image}:cache-{branch}-{stage}", "reg/app", "[cache].ref", records=True),
        gcselect.split("image", "{image}:{branch}-{stage}", "reg/app", "[cache].tag"),
    ]
    s = gcselect.Selector(templates, ["feature"], "main", ["deps", "build"], "reg/app")
    assert reading(s, "cache-main-build") == ("cache", "main", "build", "")
    assert reading(s, "cache-main-build.inputs") == ("record", "main", "build", "")
    assert reading(s, "main-build") == ("image", "main", "build", "")
    # A stage the Dockerfile no longer has, on the fallback branch; an alive branch keeps its own.
    assert reading(s, "main-old") == ("image", "main", "old", "stage 'old' is not in the Dockerfile")
    assert reading(s, "cache-feature-lint") == ("cache", "feature", "lint", "")
    # What can be read as an alive branch's is kept: feature's stage x-build (a stage only that
    # branch has), not a dead feature-x's build.
    assert reading(s, "cache-feature-x-build") == ("cache", "feature", "x-build", "")
    # A dead branch, read with a stage the Dockerfile has where it can be.
    assert reading(s, "cache-fix-y-build") == ("cache", "fix-y", "build", "branch 'fix-y' is not alive")
    assert reading(s, "cache-fix-y-build.inputs")[:3] == ("record", "fix-y", "build")  # type: ignore[index]
    # Read from a feature branch's checkout, its Dockerfile says nothing of main's stages.
    elsewhere = gcselect.Selector(templates, ["feature"], "main", ["deps", "build"], "reg/app", stale_stages=False)
    assert reading(elsewhere, "main-old") == ("image", "main", "old", "")
    # No template makes these: not stagecache's.
    assert reading(s, "latest") is None and reading(s, "v1.2") is None
    assert reading(s, "main-build.inputs") is None  # records sit beside caches only
    # A release tag a template could make is a candidate; gc.py keeps it unless it is proven.
    assert reading(s, "v1.2-rc1") == ("image", "v1.2", "rc1", "branch 'v1.2' is not alive")


def test_a_long_branch_is_known_in_every_form_a_tag_gives_it() -> None:
    branch = "feature/" + "x" * 200
    forms = gcselect.branch_forms(branch)
    assert all(re.fullmatch(r"\w[\w.-]*", f) and len(f) <= 128 for f in forms) and len(forms) > 1
    templates = [gcselect.split("cache", "{image}:cache-{branch}-{stage}", "reg/app", "[cache].ref", records=True)]
    s = gcselect.Selector(templates, [branch], "main", ["build"], "reg/app")
    from stagecache.cache import Naming

    tag = Naming("reg/app", "{image}:{stage}", "{image}:cache-{branch}-{stage}", Path("."), branch).cache_ref("build")
    assert reading(s, tag.rpartition(":")[2]) == ("cache", tag.rpartition(":")[2][6:-6], "build", "")


def test_templates_gc_cannot_read_are_refused() -> None:
    with pytest.raises(UsageError, match=r"\[cache\].ref = '\{image\}-\{stage\}:cache': stagecache gc reads"):
        gcselect.split("cache", "{image}-{stage}:cache", "reg/app", "[cache].ref")
    without_branch = gcselect.split("cache", "{image}:cache-{stage}", "reg/app", "[cache].ref", records=True)
    s = gcselect.Selector([without_branch], [], "main", ["build"], "reg/app")
    assert reading(s, "cache-build") == ("cache", "", "build", "")
    assert reading(s, "cache-gone") == ("cache", "", "gone", "stage 'gone' is not in the Dockerfile")


class MemoryRegistry:
    """The registry API's read side plus deletes, for one repository, in memory."""

    def __init__(self, page: int = 2) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        self.tags: dict[str, str] = {}
        self.page = page
        self.delete_status = 202
        self.fail_after: int | None = None
        self.deleted: list[str] = []
        self.auth = ""
        """When set: the Authorization header every request must carry (else 401)."""
        self.broken: set[str] = set()
        """Tags whose manifest the registry fails to send (HTTP 503)."""
        self.link = ""
        """When set: the Link header of every tag list page (a broken registry's)."""
        self.lying_deletes = False
        """When set: every delete is answered 404 and deletes nothing."""

    def blob(self, data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return {"mediaType": "application/octet-stream", "digest": digest, "size": len(data)}

    def put(self, tag: str, manifest: dict) -> str:
        body = json.dumps(manifest).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[digest] = body
        self.tags[tag] = digest
        return digest

    def cache(self, tag: str, salt: str) -> str:
        config = {**self.blob(salt.encode()), "mediaType": "application/vnd.buildkit.cacheconfig.v0"}
        return self.put(tag, {"schemaVersion": 2, "config": config, "layers": [self.blob(b"layer " + salt.encode())]})

    def image(self, tag: str, salt: str) -> str:
        config = {**self.blob(json.dumps({"salt": salt}).encode()), "mediaType": "application/vnd.oci.image.config.v1"}
        return self.put(
            tag, {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config}
        )

    def record(self, cache_tag: str, stage: str, image: str = "") -> str:
        doc = {**StageInputs(stage, (), cache=cache_tag, image=image).to_json(), "written": "2026-11-01T00:00:00Z"}
        layer = {**self.blob(json.dumps(doc).encode()), "mediaType": inputstore.MEDIA_TYPE}
        return self.put(cache_tag + ".inputs", {"schemaVersion": 2, "config": self.blob(b"{}"), "layers": [layer]})

    def __call__(self, seen: Seen) -> Reply:
        if self.auth and seen.header("Authorization") != self.auth:
            return (401, {"WWW-Authenticate": 'Basic realm="test"'}, b"")
        url = urllib.parse.urlsplit(seen.path)
        m = re.fullmatch(r"/v2/(.+)/(tags/list|manifests|blobs)/?(.*)", url.path)
        if m is None:
            return (200, {}, b"{}")
        name, what, ref = m.groups()
        if name != "app":
            return (404, {}, b"")
        if what == "tags/list":
            query = dict(urllib.parse.parse_qsl(url.query))
            names = sorted(self.tags)
            after = [t for t in names if t > query["last"]] if "last" in query else names
            size = min(int(query.get("n", self.page)), self.page)
            headers = {}
            if self.link:
                headers["Link"] = f'{self.link}; rel="next"'
            elif len(after) > size:
                headers["Link"] = f'</v2/app/tags/list?n={size}&last={after[size - 1]}>; rel="next"'
            return (200, headers, json.dumps({"name": "app", "tags": after[:size]}).encode())
        if what == "blobs":
            return (200, {}, self.blobs[ref]) if ref in self.blobs else (404, {}, b"")
        if ref in self.broken:
            return (503, {}, b"")
        digest = self.tags.get(ref, ref)
        if seen.method == "DELETE":
            if self.lying_deletes:
                return (404, {}, b"")
            if self.fail_after is not None and len(self.deleted) >= self.fail_after:
                return (500, {}, b"")
            if self.delete_status != 202 or digest not in self.manifests:
                return (self.delete_status if self.delete_status != 202 else 404, {}, b"")
            self.deleted.append(digest)
            del self.manifests[digest]
            self.tags = {t: d for t, d in self.tags.items() if d != digest}
            return (202, {}, b"")
        if digest not in self.manifests:
            return (404, {}, b"")
        body = self.manifests[digest]
        return (200, {"Docker-Content-Digest": digest, "Content-Type": "application/json"}, body)


@pytest.fixture(autouse=True)
def _no_ci_branch(monkeypatch: pytest.MonkeyPatch) -> None:
    """gc reads the branch of its checkout from the CI's variables: a CI run of this suite on
    another branch must not change what these tests see."""
    from stagecache import ci

    for var in (*ci._BRANCH_VARS, "GITHUB_REF_NAME", "GITHUB_REF_TYPE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def registry():
    memory = MemoryRegistry()
    server = LoopbackServer(respond=memory).start()
    memory.addr = server.addr  # type: ignore[attr-defined]
    yield memory
    server.stop()


def branches(registry: MemoryRegistry) -> dict[str, str]:
    """main and feature (alive-or-dead test data): caches, records, images; feature's
    runtime image is main's (the same manifest under two tags)."""
    made = {}
    for branch in ("main", "feature"):
        for stage in ("build", "runtime"):
            made[f"{branch}-{stage}"] = image = (
                registry.tags["main-runtime"]
                if (branch, stage) == ("feature", "runtime")
                else registry.image(f"{branch}-{stage}", f"{branch} {stage}")
            )
            registry.tags[f"{branch}-{stage}"] = image
            registry.cache(f"cache-{branch}-{stage}", f"{branch} {stage}")
            registry.record(f"cache-{branch}-{stage}", stage, image)
    registry.image("latest", "a release")
    return made


def gc_project(tmp_path: Path, registry: MemoryRegistry, toml: str = BRANCH_REFS) -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "stagecache.toml").write_text(f'[project]\nimage = "{registry.addr}/app"\n' + toml)  # type: ignore[attr-defined]
    return tmp_path


def test_tags_are_listed_page_by_page(registry: MemoryRegistry) -> None:
    for i in range(7):
        registry.image(f"t{i}", str(i))
    client = RegistryClient(registry.addr)  # type: ignore[attr-defined]
    assert client.tags("app") == [f"t{i}" for i in range(7)]


def test_a_dry_run_lists_and_deletes_nothing(tmp_path: Path, registry: MemoryRegistry) -> None:
    branches(registry)
    before = dict(registry.tags)
    result = runner.invoke(app, ["gc", "-C", str(gc_project(tmp_path, registry)), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert registry.tags == before and registry.deleted == []
    entries = {e["name"].rpartition(":")[2]: e for e in report["entries"]}
    assert set(entries) == {
        f"{k}feature-{s}{x}" for s in ("build", "runtime") for k, x in [("cache-", ""), ("cache-", ".inputs"), ("", "")]
    }
    assert entries["feature-runtime"]["kept"].startswith("shares its manifest with the kept tag 'main-runtime'")
    # feature's runtime image stays (main's manifest), and so does the record that proves it stagecache's.
    assert {t for t, e in entries.items() if not e["kept"]} == set(entries) - {
        "feature-runtime",
        "cache-feature-runtime.inputs",
    }
    assert entries["cache-feature-runtime.inputs"]["kept"] == (
        "'feature-runtime' stays, and this record is what proves it stagecache's"
    )
    assert report["alive"] == ["main"] and report["dry_run"] is True
    assert entries["cache-feature-build"]["age_days"] > 0 and entries["cache-feature-build"]["size"] > 0


def test_yes_deletes_by_digest_and_keeps_every_kept_tag(tmp_path: Path, registry: MemoryRegistry) -> None:
    made = branches(registry)
    kept = {t: d for t, d in registry.tags.items() if not t.startswith(("feature", "cache-feature"))}
    result = runner.invoke(app, ["gc", "-C", str(gc_project(tmp_path, registry)), "--yes"])
    assert result.exit_code == 0, result.output
    assert {t: registry.tags.get(t) for t in kept} == kept
    assert set(registry.tags) == set(kept) | {"feature-runtime", "cache-feature-runtime.inputs"}
    assert registry.tags["feature-runtime"] == made["main-runtime"]
    assert "deleted:" in result.output and "kept, although a template makes them:" in result.output


def test_a_registry_that_refuses_deletes_gets_nothing_deleted(tmp_path: Path, registry: MemoryRegistry) -> None:
    branches(registry)
    registry.delete_status = 405
    before = dict(registry.tags)
    result = runner.invoke(app, ["gc", "-C", str(gc_project(tmp_path, registry)), "--yes"])
    assert result.exit_code == 5
    assert "storage.delete.enabled: true" in result.output and "deleted nothing" in result.output
    assert registry.tags == before


def test_a_failure_part_way_says_what_was_deleted_and_exits_5(tmp_path: Path, registry: MemoryRegistry) -> None:
    branches(registry)
    registry.fail_after = 2
    result = runner.invoke(app, ["gc", "-C", str(gc_project(tmp_path, registry)), "--yes"])
    assert result.exit_code == 5, result.output
    assert len(registry.deleted) == 2
    assert "stagecache gc: stopped (" in result.output
    assert "not deleted (gc stopped before them):" in result.output
    assert "Error: stagecache gc stopped part-way" in result.output


def test_keep_branch_keeps_a_branch(tmp_path: Path, registry: MemoryRegistry) -> None:
    branches(registry)
    before = dict(registry.tags)
    root = gc_project(tmp_path, registry)
    result = runner.invoke(app, ["gc", "-C", str(root), "--keep-branch", "feature", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["entries"] == [] and registry.tags == before


def test_max_age_keeps_a_branch_that_wrote_a_record_lately(tmp_path: Path, registry: MemoryRegistry) -> None:
    branches(registry)  # records written 2026-11-01
    root = gc_project(tmp_path, registry)
    young = runner.invoke(app, ["gc", "-C", str(root), "--max-age", "100000", "--json"])
    assert json.loads(young.output)["entries"] == []
    old = runner.invoke(app, ["gc", "-C", str(root), "--max-age", "0.5", "--json"])
    assert len(json.loads(old.output)["entries"]) == 6


def test_local_gc_removes_only_stale_stage_folders_and_incoming(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "stagecache.toml").write_text('[cache]\nmode = "local"\nlocal_dir = "../cache"\n')
    cache = tmp_path / "cache"
    for name in ("build", "runtime", "old", ".build.incoming"):
        blob = cache / name / "blobs" / "sha256" / ("a" * 64)
        blob.parent.mkdir(parents=True)
        blob.write_bytes(b"x" * 1000)
        (cache / name / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    (cache / "notes").mkdir()  # not a cache layout: never touched
    dry = runner.invoke(app, ["gc", "-C", str(root), "--branch", "main"])
    assert dry.exit_code == 0, dry.output
    assert "would delete:" in dry.output and "would free 2.1 kB (2 entries)." in dry.output
    assert (cache / "old").is_dir() and (cache / ".build.incoming").is_dir()
    done = runner.invoke(app, ["gc", "-C", str(root), "--branch", "main", "--yes", "--json"])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in cache.iterdir()) == [".lock", "CACHEDIR.TAG", "build", "notes", "runtime"]
    assert {Path(e["name"]).name for e in json.loads(done.output)["entries"] if e["deleted"]} == {
        "old",
        ".build.incoming",
    }


def test_no_credential_reaches_the_output(tmp_path: Path, registry: MemoryRegistry, monkeypatch) -> None:
    branches(registry)
    secret = "s3cr3t-token-value"
    basic = base64.b64encode(f"user:{secret}".encode()).decode()
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {registry.addr: {"auth": basic}}}))  # type: ignore[attr-defined]
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "p").mkdir()
    root = gc_project(tmp_path / "p", registry)
    registry.auth = f"Basic {basic}"  # every answer below needed the credentials
    for args in (["--json"], [], ["--yes"]):
        result = runner.invoke(app, ["gc", "-C", str(root), *args])
        assert result.exit_code == 0, result.output
        assert secret not in result.output and basic not in result.output
    assert registry.deleted


def test_an_index_goes_with_the_manifests_under_it_that_no_kept_tag_needs(
    tmp_path: Path, registry: MemoryRegistry
) -> None:
    made = branches(registry)

    def index(tag: str, *children: str) -> str:
        listed = [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": 1} for d in children]
        return registry.put(
            tag, {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": listed}
        )

    # main's build image is an index over its platform manifest; a dead branch's tag points at
    # that very platform manifest, and its own build image is an index over a manifest of its own.
    main_child = made["main-build"]
    registry.tags["main-build"] = index("main-build", main_child)
    registry.record("cache-main-build", "build", registry.tags["main-build"])
    registry.tags["cache-old-build"] = registry.cache("cache-old-build", "old build")
    own_child = registry.image("scratch", "old platform manifest")
    del registry.tags["scratch"]
    registry.tags["old-build"] = index("old-build", own_child)
    registry.record("cache-old-build", "build", registry.tags["old-build"])
    registry.tags["old-runtime"] = main_child
    registry.record("cache-old-runtime", "runtime", main_child)
    result = runner.invoke(app, ["gc", "-C", str(gc_project(tmp_path, registry)), "--keep-branch", "feature", "--yes"])
    assert result.exit_code == 0, result.output
    assert own_child in registry.deleted and own_child not in registry.manifests
    assert main_child in registry.manifests and registry.tags["old-runtime"] == main_child
    assert "shares its manifest with the kept tag 'main-build'" in result.output


def test_a_tag_that_cannot_be_read_stops_gc_before_any_delete(tmp_path: Path, registry: MemoryRegistry) -> None:
    branches(registry)
    registry.broken.add("main-runtime")  # the kept tag feature-runtime's manifest is shared with
    before = dict(registry.tags)
    result = runner.invoke(app, ["gc", "-C", str(gc_project(tmp_path, registry)), "--yes"])
    assert result.exit_code == 5, result.output
    assert "the manifest of tag 'main-runtime' could not be read" in result.output
    assert registry.tags == before and registry.deleted == []


def test_a_failure_part_way_marks_what_was_deleted(tmp_path: Path, registry: MemoryRegistry) -> None:
    branches(registry)
    registry.fail_after = 2
    result = runner.invoke(app, ["gc", "-C", str(gc_project(tmp_path, registry)), "--yes", "--json"])
    assert result.exit_code == 5
    report = json.loads(result.output.split("\nError:")[0])
    deleted = {e["digest"] for e in report["entries"] if e["deleted"]}
    assert deleted == set(registry.deleted) and len(deleted) == 2
    assert report["dry_run"] is False and "HTTP 500" in report["failure"]


def test_inline_mode_never_takes_a_release_tag_for_a_gone_stage(tmp_path: Path, registry: MemoryRegistry) -> None:
    # An old release "v1.0" built with inline cache, under the stage tag template {image}:{stage}.
    config = registry.blob(json.dumps({"moby.buildkit.cache.v0": "..."}).encode())
    registry.put("v1.0", {"schemaVersion": 2, "config": {**config, "mediaType": "application/vnd.oci.image.config.v1"}})
    root = gc_project(tmp_path, registry, '[cache]\nmode = "inline"\n')
    result = runner.invoke(app, ["gc", "-C", str(root), "--branch", "main", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)["entries"]
    assert entry["name"].endswith(":v1.0") and "not shown to be stagecache's" in entry["kept"]
    assert "v1.0" in registry.tags and registry.deleted == []


def test_max_age_needs_the_records_of_registry_mode(tmp_path: Path, registry: MemoryRegistry) -> None:
    root = gc_project(tmp_path, registry, '[cache]\nmode = "classic"\n')
    result = runner.invoke(app, ["gc", "-C", str(root), "--max-age", "7"])
    assert result.exit_code == 2
    assert "cache mode 'classic' keeps none there. Name the alive branches with --keep-branch" in result.output


def test_a_tag_list_that_loops_or_leaves_the_host_or_is_refused_is_an_error(registry: MemoryRegistry) -> None:
    from stagecache.errors import RegistryError

    for i in range(3):
        registry.image(f"t{i}", str(i))
    client = RegistryClient(registry.addr)  # type: ignore[attr-defined]
    for link, said in (
        ("</v2/app/tags/list?n=2>", "links back to a page it sent"),
        ("<http://127.0.0.2:1/v2/app/tags/list?n=2&last=t1>", "next page is on another host"),
    ):
        registry.link = link
        with pytest.raises(RegistryError, match=said):
            client.tags("app")
    registry.link = ""
    registry.auth = "Basic nope"
    with pytest.raises(RegistryError, match="listing the tags failed: HTTP 401"):
        client.tags("app")
    registry.auth = ""
    assert client.tags("absent") == [] and client.tags("app") == ["t0", "t1", "t2"]


def test_gone_stages_are_collected_only_from_the_fallback_branch_s_checkout(
    tmp_path: Path, registry: MemoryRegistry
) -> None:
    branches(registry)
    registry.cache("cache-main-old", "main old")
    registry.record("cache-main-old", "old")
    root = gc_project(tmp_path, registry)

    def listed(*args: str) -> tuple[set[str], list[str]]:
        out = runner.invoke(app, ["gc", "-C", str(root), "--keep-branch", "feature", "--json", *args]).output
        report = json.loads(out)
        return {e["name"].rpartition(":")[2] for e in report["entries"]}, report["notes"]

    assert listed("--branch", "main")[0] == {"cache-main-old", "cache-main-old.inputs"}
    for args, said in ((["--branch", "feature"], "this is branch 'feature'"), ([], "is not known")):
        found, notes = listed(*args)
        assert found == set() and any(said in n and "--branch main" in n for n in notes), notes


def test_max_age_keeps_a_recent_branch_whose_name_starts_with_the_fallback_s(
    tmp_path: Path, registry: MemoryRegistry
) -> None:
    # main-hotfix's build cache reads as main's gone stage "hotfix-build" too; its record says
    # its stage is build, so its tag says its branch.
    registry.cache("cache-main-hotfix-build", "hotfix")
    registry.record("cache-main-hotfix-build", "build")
    root = gc_project(tmp_path, registry)
    gone = {"cache-main-hotfix-build", "cache-main-hotfix-build.inputs"}
    for age, listed in (("100000", set()), ("0.5", gone)):
        result = runner.invoke(app, ["gc", "-C", str(root), "--branch", "main", "--max-age", age, "--json"])
        assert {e["name"].rpartition(":")[2] for e in json.loads(result.output)["entries"]} == listed, age


def test_a_delete_answered_404_while_the_manifest_stays_is_a_failure(tmp_path: Path, registry: MemoryRegistry) -> None:
    branches(registry)
    registry.lying_deletes = True
    result = runner.invoke(app, ["gc", "-C", str(gc_project(tmp_path, registry)), "--yes", "--json"])
    assert result.exit_code == 5
    report = json.loads(result.output.split("\nError:")[0])
    assert "HTTP 404, and the manifest is still there" in report["failure"]
    assert [e for e in report["entries"] if e["deleted"]] == [] and report["freed_bytes"] == 0


def test_a_refusal_says_so_in_the_report(tmp_path: Path, registry: MemoryRegistry) -> None:
    branches(registry)
    registry.delete_status = 405
    result = runner.invoke(app, ["gc", "-C", str(gc_project(tmp_path, registry)), "--yes", "--json"])
    report = json.loads(result.output.split("\nError:")[0])
    assert "does not allow deletes (HTTP 405)" in report["failure"] and report["freed_bytes"] == 0


def test_inline_mode_proves_images_by_the_record_beside_them_and_leaves_registry_mode_s_tags(
    tmp_path: Path, registry: MemoryRegistry
) -> None:
    # Inline mode: the image is the cache, and its record sits beside it (TAG.inputs) naming it
    # as its cache. A registry-mode bake left cache refs and records in the same repository.
    for branch in ("main", "old"):
        for stage in ("build", "runtime"):
            image = registry.image(f"{branch}-{stage}", f"inline {branch} {stage}")
            doc = {**StageInputs(stage, (), cache=image).to_json(), "written": "2026-11-01T00:00:00Z"}
            layer = {**registry.blob(json.dumps(doc).encode()), "mediaType": inputstore.MEDIA_TYPE}
            registry.put(
                f"{branch}-{stage}.inputs", {"schemaVersion": 2, "config": registry.blob(b"{}"), "layers": [layer]}
            )
    registry.cache("cache-old-build", "registry mode's")
    registry.record("cache-old-build", "build")
    before = dict(registry.tags)
    root = gc_project(tmp_path, registry, '[cache]\nmode = "inline"\nref = "{image}:cache-{branch}-{stage}"\n')
    result = runner.invoke(app, ["gc", "-C", str(root), "--branch", "main", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    gone = {"old-build", "old-build.inputs", "old-runtime", "old-runtime.inputs"}
    assert {e["name"].rpartition(":")[2] for e in json.loads(result.output)["entries"] if e["deleted"]} == gone
    assert registry.tags == {t: d for t, d in before.items() if t not in gone}


def test_local_incoming_folders_go_on_any_branch(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "stagecache.toml").write_text('[cache]\nmode = "local"\nlocal_dir = "../cache"\n')
    for name in ("old", ".build.incoming"):
        (tmp_path / "cache" / name / "blobs").mkdir(parents=True)
        (tmp_path / "cache" / name / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    report = json.loads(runner.invoke(app, ["gc", "-C", str(root), "--json"]).output)
    assert [Path(e["name"]).name for e in report["entries"]] == [".build.incoming"]


def test_remote_outside_a_git_checkout_is_a_usage_error(tmp_path: Path, registry: MemoryRegistry) -> None:
    result = runner.invoke(app, ["gc", "-C", str(gc_project(tmp_path, registry)), "--remote", "origin"])
    assert result.exit_code == 2, result.output
    assert "--remote origin: git cannot read that remote in" in result.output and "`git remote -v`" in result.output
