"""CacheSpec round-trips, and the exact argv planned for every cache mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagecache import config as cfg
from stagecache.cache import MODES, CacheSpec, dedupe
from stagecache.errors import UsageError
from stagecache.plan import make_plan

DOCKERFILE = """\
FROM alpine AS compile
RUN make
FROM alpine AS runtime
COPY --from=compile /app /app
"""


@pytest.mark.parametrize(
    "text",
    [
        "type=registry,ref=reg.example.com/app:cache-compile,mode=max",
        "type=local,src=/tmp/cache/compile",
        "type=inline",
        "type=registry,ref=r/a:c,mode=min,ignore-error=true",
    ],
)
def test_cache_spec_round_trip(text: str) -> None:
    spec = CacheSpec.parse(text)
    assert str(spec) == text
    assert CacheSpec.parse(str(spec)) == spec


def test_cache_spec_bare_ref_is_registry() -> None:
    assert CacheSpec.parse("user/app:cache") == CacheSpec("registry", (("ref", "user/app:cache"),))
    assert CacheSpec.parse("type=registry,ref=x").get("ref") == "x"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("registry", (("ref", "x,type=local"),)),
            "cache option ref='x,type=local' is not allowed: it contains ',', '='",
        ),
        (("registry", (("ref", "-x"),)), "cache option ref='-x' is not allowed: it starts with '-'"),
        (("registry", (("ref", 'a"b'),)), "cache option ref='a\"b' is not allowed: it contains '\"'"),
        (("local", (("dest", "a\nb"),)), "cache option dest='a\\nb' is not allowed: it contains '\\n'"),
        (("registry", (("ref", "a"), ("ref", "b"))), "cache option 'type=registry,...' repeats a key: ref, ref."),
    ],
)
def test_cache_spec_refuses_injection(args: tuple, message: str) -> None:
    with pytest.raises(UsageError) as info:
        CacheSpec(*args)
    assert str(info.value).startswith(message)


def test_cache_spec_parse_errors() -> None:
    with pytest.raises(UsageError, match="must have exactly one type"):
        CacheSpec.parse("ref=a,mode=max")
    with pytest.raises(UsageError, match="repeats a key"):
        CacheSpec.parse("type=registry,ref=a,ref=b")


def test_dedupe_keeps_first() -> None:
    a, b = CacheSpec.parse("type=inline"), CacheSpec.parse("type=registry,ref=r/a:b")
    assert dedupe([a, b, a]) == (a, b)


def make(tmp_path: Path, toml: str, dockerfile: str = DOCKERFILE, **overrides):
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / ".dockerignore").write_text(".stagecache/\n")
    (tmp_path / "stagecache.toml").write_text(toml)
    return make_plan(cfg.load(tmp_path / "stagecache.toml", overrides=cfg.Overrides(**overrides), env={}))


def argvs(plan) -> list[list[str]]:
    return [[a.replace(str(plan.config.root), "ROOT") for a in c.argv] for c in plan.commands()]


BASE = '[project]\nimage = "reg.example.com/app"\nnetwork = "none"\n'


def test_registry_mode_argv(tmp_path: Path) -> None:
    plan = make(tmp_path, BASE + '[cache]\nmode = "registry"\nregistry_mode = "min"\n')
    assert argvs(plan) == [
        ["docker", "buildx", "build", "--progress=rawjson", "--file", "ROOT/Dockerfile", "--target", "compile",
         "--tag", "reg.example.com/app:compile", "--network", "none",
         "--cache-from", "type=registry,ref=reg.example.com/app:cache-compile",
         "--cache-to", "type=registry,ref=reg.example.com/app:cache-compile,mode=min,ignore-error=true",
         "--load", "ROOT"],
        ["docker", "push", "--quiet", "reg.example.com/app:compile"],
        ["docker", "buildx", "build", "--progress=rawjson", "--file", "ROOT/Dockerfile", "--target", "runtime",
         "--tag", "reg.example.com/app:runtime", "--network", "none",
         "--cache-from", "type=registry,ref=reg.example.com/app:cache-runtime",
         "--cache-from", "type=registry,ref=reg.example.com/app:cache-compile",
         "--cache-to", "type=registry,ref=reg.example.com/app:cache-runtime,mode=min,ignore-error=true",
         "--load", "ROOT"],
        ["docker", "push", "--quiet", "reg.example.com/app:runtime"],
    ]  # fmt: skip


def test_a_named_builder_or_several_platforms_push_from_buildkit(tmp_path: Path) -> None:
    named = make(tmp_path, BASE.replace("[project]\n", '[project]\nbuilder = "ci"\n') + '[cache]\nmode = "registry"\n')
    assert named.builds[0].build.argv[-2:] == ("--push", str(tmp_path.resolve()))
    assert named.builds[0].push_commands == ()
    multi = make(tmp_path, BASE + 'platforms = ["linux/amd64", "linux/arm64"]\n[cache]\nmode = "inline"\n')
    assert multi.builds[0].build.argv[-2:] == ("--push", str(tmp_path.resolve()))
    assert multi.builds[0].push_commands == ()


def test_switching_mode_changes_only_the_cache_flags(tmp_path: Path) -> None:
    reg = make(tmp_path, BASE + '[cache]\nmode = "registry"\n', push=False)
    assert reg.builds[1].build.argv[-6:] == (
        "--cache-from", "type=registry,ref=reg.example.com/app:cache-compile",
        "--cache-to", "type=registry,ref=reg.example.com/app:cache-runtime,mode=max,ignore-error=true",
        "--load", str(tmp_path.resolve()),
    )  # fmt: skip
    inline = make(tmp_path, BASE + '[cache]\nmode = "inline"\n')
    assert argvs(inline)[2][12:] == [  # build, push, build, push
        "--cache-from", "type=registry,ref=reg.example.com/app:runtime",
        "--cache-from", "type=registry,ref=reg.example.com/app:compile",
        "--cache-to", "type=inline", "--load", "ROOT",
    ]  # fmt: skip
    assert argvs(inline)[-1] == ["docker", "push", "--quiet", "reg.example.com/app:runtime"]
    local = make(tmp_path, BASE + '[cache]\nmode = "local"\non_export_error = "fail"\n')
    assert argvs(local)[1][12:] == [
        "--cache-from", "type=local,src=ROOT/.stagecache/cache/runtime",
        "--cache-from", "type=local,src=ROOT/.stagecache/cache/compile",
        "--cache-to", "type=local,dest=ROOT/.stagecache/cache/.runtime.incoming,mode=max",
        "--load", "ROOT",
    ]  # fmt: skip
    root = tmp_path.resolve()
    assert local.builds[1].local_swap == (
        root / ".stagecache/cache/.runtime.incoming",
        root / ".stagecache/cache/runtime",
    )
    none = make(tmp_path, BASE + '[cache]\nmode = "none"\n')
    assert argvs(none)[1][12:] == ["--load", "ROOT"]


def test_classic_mode_pulls_builds_with_legacy_builder_and_pushes(tmp_path: Path) -> None:
    plan = make(tmp_path, BASE + '[cache]\nmode = "classic"\n')
    assert argvs(plan) == [
        ["docker", "pull", "--quiet", "reg.example.com/app:compile"],
        ["docker", "pull", "--quiet", "reg.example.com/app:runtime"],
        ["docker", "build", "--file", "ROOT/Dockerfile", "--target", "compile", "--tag", "reg.example.com/app:compile",
         "--network", "none", "--cache-from", "reg.example.com/app:compile", "ROOT"],
        ["docker", "push", "--quiet", "reg.example.com/app:compile"],
        ["docker", "build", "--file", "ROOT/Dockerfile", "--target", "runtime", "--tag", "reg.example.com/app:runtime",
         "--network", "none", "--cache-from", "reg.example.com/app:runtime",
         "--cache-from", "reg.example.com/app:compile", "ROOT"],
        ["docker", "push", "--quiet", "reg.example.com/app:runtime"],
    ]  # fmt: skip
    assert plan.builds[0].build.env == (("DOCKER_BUILDKIT", "0"),)


def test_classic_refuses_secrets(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="legacy builder, which has no build secrets"):
        make(tmp_path, BASE + '[cache]\nmode = "classic"\n[build.secrets]\nx = { env = "X" }\n')


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("RUN --mount=type=cache,target=/root/.cache make", "RUN --mount=type=cache,target=/root/.cache make"),
        ("COPY --link . /src", "COPY --link . /src"),
        ("COPY <<EOF /etc/motd\nhello\nEOF", "COPY <<EOF /etc/motd hello EOF"),
    ],
)
def test_classic_refuses_what_only_buildkit_can_run(tmp_path: Path, line: str, shown: str) -> None:
    dockerfile = f"FROM alpine AS compile\n{line}\nFROM alpine AS runtime\nCOPY --from=compile /app /app\n"
    with pytest.raises(UsageError) as info:
        make(tmp_path, BASE + '[cache]\nmode = "classic"\n', dockerfile)
    assert str(info.value) == (
        f"{tmp_path.resolve() / 'Dockerfile'}:2: '{shown}' needs BuildKit, and cache mode 'classic' uses the legacy "
        "builder, which cannot run it. Choose a BuildKit cache mode (registry, inline, local)."
    )
    # A stage after the target is never run by the legacy builder: no objection.
    after = DOCKERFILE + f"FROM alpine AS x\n{line}\n"
    plan = make(tmp_path, BASE + '[cache]\nmode = "classic"\n', after, target="runtime")
    assert [b.stage for b in plan.builds] == ["compile", "runtime"]


def test_args_secrets_tags_builder_platforms_and_stage_overrides(tmp_path: Path) -> None:
    plan = make(
        tmp_path,
        '[project]\nimage = "reg.example.com/app"\nbuilder = "ci"\nplatforms = ["linux/amd64", "linux/arm64"]\n'
        'tags = ["reg.example.com/app:latest"]\n'
        '[cache]\nmode = "none"\n[build.args]\nVERSION = "1.0"\nAPI_TOKEN = "s3cr3t"\n'
        '[build.secrets]\nnpm = { env = "NPM_TOKEN" }\n'
        '[stages.compile]\npush = true\ntags = ["reg.example.com/compiler:1"]\n',
    )
    compile_, runtime = plan.builds
    assert compile_.tags == ("reg.example.com/app:compile", "reg.example.com/compiler:1")
    assert compile_.push is True and runtime.push is False
    assert runtime.tags == ("reg.example.com/app:runtime", "reg.example.com/app:latest")
    argv = runtime.build.argv
    assert argv[3:5] == ("--builder", "ci")
    pairs = [argv[i + 1] for i, a in enumerate(argv) if a == "--build-arg"]
    # The secret's value reaches buildx through the environment (`--build-arg NAME` reads it
    # there), never through the argv that `ps` shows every user of the machine.
    assert pairs == ["VERSION=1.0", "API_TOKEN"] and "s3cr3t" not in " ".join(argv)
    assert dict(runtime.build.env) == {"API_TOKEN": "s3cr3t"}
    assert "--secret" in argv and argv[argv.index("--secret") + 1] == "id=npm,env=NPM_TOKEN"
    assert argv[argv.index("--platform") + 1] == "linux/amd64,linux/arm64"
    assert "--load" not in argv  # multi-platform: nothing to load into the local store
    shown = runtime.build.display(plan.secret_args)
    assert "API_TOKEN=***" in shown and "s3cr3t" not in shown and "VERSION=1.0" in shown
    assert any("build arg 'API_TOKEN' looks like a secret" in w for w in plan.warnings)


def test_unnamed_intermediate_stage_is_folded_into_its_user(tmp_path: Path) -> None:
    plan = make(
        tmp_path,
        BASE,
        dockerfile=(
            "FROM alpine\nRUN a\nFROM alpine AS named\nCOPY --from=0 /a /a\nFROM scratch\nCOPY --from=named /a /a\n"
        ),
    )
    assert [(b.stage, b.target, b.folded) for b in plan.builds] == [
        ("named", "named", ("stage-0",)),
        ("stage-2", None, ()),
    ]
    assert "--target" not in plan.builds[1].build.argv
    assert any("stage 0 has no name" in w for w in plan.warnings)


def test_every_mode_is_defined_once() -> None:
    assert sorted(MODES) == sorted(cfg.CACHE_MODES)
    assert {n for n, m in MODES.items() if m.exports_cache} == {"registry", "local"}
    assert {n for n, m in MODES.items() if m.legacy_builder} == {"classic"}


def test_inline_without_push_warns(tmp_path: Path) -> None:
    plan = make(tmp_path, BASE + '[cache]\nmode = "inline"\n', push=False)
    assert any("with push off, this bake imports cache but saves none" in w for w in plan.warnings)


def test_final_scope_builds_only_the_target_with_its_own_cache(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "stagecache.toml").write_text(BASE + '[cache]\nmode = "registry"\nregistry_mode = "min"\n')
    plan = make_plan(cfg.load(tmp_path / "stagecache.toml", env={}), scope="final")
    (only,) = plan.builds
    assert (only.stage, only.folded, only.upstream) == ("runtime", ("compile",), ())
    assert [str(s) for s in only.cache.cache_from] == ["type=registry,ref=reg.example.com/app:cache-runtime"]
    with pytest.raises(UsageError, match="unknown scope 'all'"):
        make_plan(plan.config, scope="all")


def test_buildkit_stages_import_their_own_and_direct_dependencies_caches_classic_every_one(tmp_path: Path) -> None:
    dockerfile = (
        "FROM alpine AS base\nRUN a\nFROM base AS deps-a\nRUN b\nFROM base AS deps-b\nRUN c\n"
        "FROM base AS app\nCOPY --from=deps-a /a /a\nCOPY --from=deps-b /b /b\nFROM alpine AS runtime\n"
        "COPY --from=app /app /app\n"
    )
    plan = make(tmp_path, BASE + '[cache]\nmode = "registry"\n', dockerfile)
    refs = {b.stage: [s.get("ref").split(":")[-1] for s in b.cache.cache_from] for b in plan.builds}
    assert refs == {
        "base": ["cache-base"],
        "deps-a": ["cache-deps-a", "cache-base"],
        "deps-b": ["cache-deps-b", "cache-base"],
        "app": ["cache-app", "cache-base", "cache-deps-a", "cache-deps-b"],
        "runtime": ["cache-runtime", "cache-app"],
    }
    assert plan.builds[-1].upstream == ("base", "deps-a", "deps-b", "app")  # still built after all of them
    # One bake session starts every target at once: each imports every upstream stage's cache.
    session = make(tmp_path, BASE + '[cache]\nmode = "registry"\n[build]\nexecution = "bake"\n', dockerfile)
    runtime = [s.get("ref").split(":")[-1] for s in session.builds[-1].cache.cache_from]
    assert runtime == ["cache-runtime", "cache-base", "cache-deps-a", "cache-deps-b", "cache-app"]
    classic = make(tmp_path, BASE + '[cache]\nmode = "classic"\n', dockerfile)
    assert classic.builds[-1].cache.legacy_from == tuple(
        f"reg.example.com/app:{s}" for s in ("runtime", "base", "deps-a", "deps-b", "app")
    )


def test_classic_asks_no_engine_for_its_frontend(tmp_path: Path) -> None:
    dockerfile = "ARG TARGETARCH\nFROM alpine AS bamd64\nRUN a\nFROM b${TARGETARCH}\nRUN b\n"
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "stagecache.toml").write_text(BASE + '[cache]\nmode = "classic"\n')
    config = cfg.load(tmp_path / "stagecache.toml", env={})

    def probe() -> bool:
        raise AssertionError("the legacy builder has no BuildKit frontend to ask")

    assert [b.stage for b in make_plan(config, probe=probe).builds] == ["bamd64", "stage-1"]
    asked: list[bool] = []
    (tmp_path / "stagecache.toml").write_text(BASE + '[cache]\nmode = "local"\n')
    make_plan(cfg.load(tmp_path / "stagecache.toml", env={}), probe=lambda: asked.append(True) or True)
    assert asked == [True]
