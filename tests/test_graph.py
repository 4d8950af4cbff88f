"""The stage graph on tricky Dockerfiles, ARG expansion and build order."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagecache import graph
from stagecache.errors import DockerfileError


def parse(text: str, args: dict | None = None, platform: str | None = "linux/amd64") -> graph.StageGraph:
    return graph.parse(Path("Dockerfile"), args, platform, text=text)


def summary(g: graph.StageGraph) -> list[tuple[str, str, list[str], list[str]]]:
    return [(s.label, s.base, [g.stages[d].label for d in s.deps], list(s.images)) for s in g.stages]


def order(g: graph.StageGraph, target: str | None = None) -> list[str]:
    return [s.label for s in g.build_order(target)]


def test_classic_two_stage() -> None:
    g = parse(
        "FROM gcc:13 AS compile-image\nCOPY hello.c .\nRUN gcc -o /hello hello.c\n"
        "FROM debian:12-slim AS runtime-image\nCOPY --from=compile-image /hello /hello\n"
    )
    assert summary(g) == [
        ("compile-image", "gcc:13", [], ["gcc:13"]),
        ("runtime-image", "debian:12-slim", ["compile-image"], ["debian:12-slim"]),
    ]
    assert order(g) == ["compile-image", "runtime-image"]
    assert g.stages[0].instructions == (
        graph.Instruction(2, "COPY hello.c ."),
        graph.Instruction(3, "RUN gcc -o /hello hello.c"),
    )


def test_global_args_in_from_with_all_expansion_forms() -> None:
    text = (
        "ARG REG=docker.io\nARG TAG\nARG VARIANT=slim\nARG EMPTY=\n"
        "FROM $REG/python:${TAG:-3.12}-${VARIANT} AS a\n"
        "FROM ${REG}/node${VARIANT:+-}${VARIANT} AS b\n"
        "FROM alpine${EMPTY:-:3.20} AS c\n"
        "FROM alpine${EMPTY-:unused} AS d\n"
        "FROM busybox${UNSET+:never}${TAG+:set} AS e\n"
    )
    g = parse(text)
    assert [s.base for s in g.stages] == [
        "docker.io/python:3.12-slim",
        "docker.io/node-slim",
        "alpine:3.20",
        "alpine",
        "busybox",
    ]
    g = parse(text, {"TAG": "3.11", "VARIANT": "", "REG": "mirror.local"})
    assert [s.base for s in g.stages] == [
        "mirror.local/python:3.11-",
        "mirror.local/node",
        "alpine:3.20",
        "alpine",
        "busybox:set",
    ]


def test_required_arg_error() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("ARG BASE\nFROM ${BASE:?required}\n")
    assert str(info.value) == (
        "Dockerfile:2: ${BASE} is not set: required. Set it in [build.args] or give the ARG a default."
    )


def test_builtin_platform_args_and_from_platform() -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nARG TARGETARCH\n"
        "RUN GOARCH=$TARGETARCH go build\n"
        "FROM gcr.io/distroless/static:${TARGETOS}-${TARGETARCH} AS final\nCOPY --from=build /app /app\n"
    )
    g = parse(text, platform="linux/arm64/v8")
    assert g.stages[0].platform == "linux/arm64/v8"
    assert g.stages[1].base == "gcr.io/distroless/static:linux-arm64"
    assert graph.platform_args("linux/arm/v7")["TARGETVARIANT"] == "v7"


def test_unnamed_stages_referenced_by_index() -> None:
    g = parse(
        "FROM alpine\nRUN echo a > /a\nFROM alpine\nRUN echo b > /b\n"
        "FROM scratch\nCOPY --from=0 /a /\nCOPY --from=1 /b /\n"
    )
    assert summary(g) == [
        ("stage-0", "alpine", [], ["alpine"]),
        ("stage-1", "alpine", [], ["alpine"]),
        ("stage-2", "scratch", ["stage-0", "stage-1"], []),
    ]
    assert order(g) == ["stage-0", "stage-1", "stage-2"]
    assert order(g, "1") == ["stage-1"]


def test_stage_names_are_case_insensitive_and_duplicates_take_the_later_definition() -> None:
    # Verified on dockerd 26.1 / BuildKit: `COPY --from=BUILD` resolves to the *second* 'build'.
    g = parse(
        "FROM alpine AS Build\nRUN echo one > /one\n"
        "FROM alpine AS build\nRUN echo two > /two\n"
        "FROM alpine AS final\nCOPY --from=BUILD /two /\n"
    )
    assert summary(g)[2] == ("final", "alpine", ["build"], ["alpine"])
    assert g.stages[2].deps == (1,)
    assert g.find("BUILD") is g.stages[1]
    assert [s.index for s in g.live_stages()] == [1, 2]
    assert order(g) == ["build", "final"]
    assert g.warnings == (
        "Dockerfile:1: stage name 'Build' should be lowercase; BuildKit treats it as 'build' (StageNameCasing)",
        "Dockerfile:3: stage name 'build' is already used at line 1; BuildKit uses this later definition "
        "(DuplicateStageName)",
    )


def test_stage_name_shadowing_an_image_name() -> None:
    # 'node' is an image in the first FROM (no stage called node exists yet), and a stage afterwards.
    g = parse(
        "FROM node AS node\nRUN npm ci\nFROM node AS test\nRUN npm test\nFROM alpine\nCOPY --from=node /app /app\n"
    )
    assert summary(g) == [
        ("node", "node", [], ["node"]),
        ("test", "node", ["node"], []),
        ("stage-2", "alpine", ["node"], ["alpine"]),
    ]
    assert order(g, "test") == ["node", "test"]


def test_run_mount_from_and_copy_from_image() -> None:
    g = parse(
        "FROM alpine AS deps\nRUN echo > /lock\n"
        "FROM alpine AS build\n"
        "RUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=deps,source=/lock,target=/l cat /l\n"
        'RUN --mount=from=docker.io/library/golang:1.22,src=/usr/local/go,target=/go "go" version\n'
        "COPY --from=nginx:1.27 /etc/nginx/nginx.conf /nginx.conf\n"
        "ADD --chown=1:1 --from=deps /lock /lock2\n"
    )
    assert summary(g)[1] == ("build", "alpine", ["deps"], ["alpine", "docker.io/library/golang:1.22", "nginx:1.27"])


def test_directives_heredocs_and_continuations() -> None:
    text = (
        "# syntax=docker/dockerfile:1.7\n# escape=`\n"
        "FROM alpine AS one\n"
        "RUN echo a `\n  && echo b\n"
        "RUN <<EOF\nset -e\necho heredoc\nEOF\n"
        "COPY <<EOT /etc/motd\nhello\nEOT\n"
        "FROM one AS two\nRUN true\n"
    )
    g = parse(text)
    assert g.syntax == "docker/dockerfile:1.7"
    assert summary(g) == [("one", "alpine", [], ["alpine"]), ("two", "one", ["one"], [])]
    one = g.stages[0]
    assert [i.line for i in one.instructions] == [4, 6, 10]
    assert one.instructions[1].keyword == "RUN"
    assert g.stages[1].line == 13


def test_diamond_topological_order_and_unreachable_stages() -> None:
    g = parse(
        "FROM alpine AS base\nFROM base AS lint\nRUN lint\n"
        "FROM base AS a\nRUN a\nFROM base AS b\nRUN b\n"
        "FROM base AS app\nCOPY --from=b /b /\nCOPY --from=a /a /\n"
        "FROM scratch AS runtime\nCOPY --from=app / /\n"
        "FROM alpine AS docs\nRUN docs\n"
    )
    assert order(g, "runtime") == ["base", "a", "b", "app", "runtime"]
    assert order(g) == ["docs"]
    assert [s.label for s in g.upstream(g.find("app"))] == ["base", "a", "b"]


def test_copy_from_a_later_stage_is_an_error() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM alpine AS final\nCOPY --from=later /x /x\nFROM alpine AS later\nRUN true\n")
    assert str(info.value) == (
        "Dockerfile:2: cannot copy from stage 'later', it needs to be defined before current stage 'final'. "
        "Move stage 'later' above it."
    )


def test_index_reference_must_be_earlier() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM alpine\nCOPY --from=1 /x /x\nFROM alpine\n")
    assert "refers to stage 1, which is not defined before this stage (stage 0)" in str(info.value)


def test_arg_in_copy_from_uses_stage_scope() -> None:
    g = parse("ARG SRC=builder\nFROM alpine AS builder\nFROM alpine AS out\nARG SRC\nCOPY --from=${SRC} /a /a\n")
    assert g.stages[1].deps == (0,)


def test_unknown_target_lists_stages() -> None:
    g = parse("FROM alpine AS a\nFROM alpine AS b\n")
    with pytest.raises(DockerfileError) as info:
        g.build_order("c")
    assert str(info.value) == (
        "Dockerfile: no stage named 'c'. Available stages: a, b. Set [project].target (or --target) to one of them."
    )


def test_parse_errors() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM alpine\nRUN <<EOF\necho\n")
    assert str(info.value) == "Dockerfile: the Dockerfile does not parse: unterminated heredoc"
    with pytest.raises(DockerfileError) as info:
        parse("# only a comment\n")
    assert str(info.value) == "Dockerfile: the Dockerfile does not parse: file with no instructions"
    with pytest.raises(DockerfileError) as info:
        parse("ARG X=1\n")
    assert "has no FROM instruction" in str(info.value)
    with pytest.raises(DockerfileError) as info:
        parse("FROM a b c\n")
    assert str(info.value) == "Dockerfile:1: FROM takes an image and an optional 'AS name'"


def test_missing_dockerfile(tmp_path: Path) -> None:
    with pytest.raises(DockerfileError) as info:
        graph.parse(tmp_path / "Dockerfile")
    assert str(info.value) == (
        f"{tmp_path / 'Dockerfile'}: Dockerfile not found. Set [project].dockerfile to its path "
        "(relative to stagecache.toml)."
    )


def test_direct_named_looks_through_unnamed_stages_in_build_order() -> None:
    g = parse(
        "FROM alpine AS base\nRUN a\nFROM base AS tools\nRUN b\nFROM base\nCOPY --from=tools /t /t\n"
        "FROM alpine AS app\nCOPY --from=2 /t /t\nCOPY --from=base /a /a\n"
    )
    app = g.find("app")
    # The unnamed stage 2 has no cache of its own: app uses what it is made of, base and tools.
    assert [s.label for s in g.direct_named(app)] == ["base", "tools"]
    assert [s.label for s in g.direct_named(g.find("tools"))] == ["base"]
