"""The stage graph on tricky Dockerfiles, ARG expansion and build order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stagecache import frontend as frontends
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
    # Step 1 is the pull of gcc:13; BuildKit labels the COPY [compile-image 2/3].
    assert g.stages[0].instructions == (
        graph.Instruction(2, "COPY hello.c .", step=2),
        graph.Instruction(3, "RUN gcc -o /hello hello.c", step=3),
    )
    assert g.stages[0].total == 3 and g.stages[1].total == 2


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
        "Dockerfile:2: cannot expand FROM '${BASE:?required}': BASE: required. "
        "Set BASE in [build.args], or give the ARG a default."
    )


def test_builtin_platform_args_and_from_platform() -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nARG TARGETARCH\n"
        "RUN GOARCH=$TARGETARCH go build\n"
        "FROM gcr.io/distroless/static:${TARGETOS}-${TARGETARCH} AS final\nCOPY --from=build /app /app\n"
    )
    g = parse(text, platform="linux/arm64/v8")
    # BUILDPLATFORM is the platform of the machine that builds, not the target's.
    assert g.stages[0].platform == graph.default_platform()
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
    assert [s.label for s in g.order(g.stages[1])] == ["stage-1"]


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
        "for --target and --from (DuplicateStageName)",
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
        "ADD --chown=1:1 /lock /lock2\n"
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
    assert g.frontend.source == "syntax" and g.frontend.description == "docker/dockerfile:1.7"
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
    g = parse("FROM alpine AS final\nCOPY --from=later /x /x\nFROM alpine AS later\nRUN true\n")
    assert order(g) == ["later"]  # BuildKit refuses only a build that reaches 'final'
    with pytest.raises(DockerfileError) as info:
        g.build_order("final")
    assert str(info.value) == (
        "Dockerfile:2: cannot copy from stage 'later', it needs to be defined before current stage 'final'. "
        "Move stage 'later' above it."
    )


def test_index_reference_must_be_earlier() -> None:
    g = parse("FROM alpine\nCOPY --from=1 /x /x\nFROM alpine\n")
    assert order(g) == ["stage-1"]  # BuildKit only refuses a build that reaches stage 0
    with pytest.raises(DockerfileError) as info:
        g.order(g.stages[0])
    assert str(info.value) == (
        "Dockerfile:2: cannot copy from stage 'stage-1', it needs to be defined before current stage 'stage-0'. "
        "Move stage 'stage-1' above it."
    )
    with pytest.raises(DockerfileError) as info:
        parse("FROM alpine\nCOPY --from=5 /x /x\n")
    assert str(info.value) == "Dockerfile:2: invalid stage index 5: the Dockerfile has 1 stages."


def test_unknown_target_lists_stages() -> None:
    g = parse("FROM alpine AS a\nFROM alpine AS b\n")
    with pytest.raises(DockerfileError) as info:
        g.build_order("c")
    assert str(info.value) == (
        "Dockerfile: no stage named 'c' (did you mean a?). Stages that can be targeted: a, b. "
        "Set [project].target (or --target) to one of them."
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
    assert str(info.value) == "Dockerfile:1: FROM requires either one or three arguments: FROM IMAGE [AS NAME]."


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


# --- Rules checked against BuildKit's dockerfile2llb (see the module docstring of graph.py);
# the engine tier (tests/engine/test_conformance.py) builds the same idioms for real.


def test_step_numbers_follow_prefix_command() -> None:
    # FROM of an image is step 1; WORKDIR / makes no vertex, but is in the total (cmdTotal).
    g = parse("FROM alpine AS big\n" + "RUN x\n" * 11 + "WORKDIR /\nWORKDIR /x\nENV A=1\n")
    big = g.stages[0]
    assert big.total == 14
    assert [i.step for i in big.steps] == list(range(2, 14))
    assert big.step(13) is not None and big.step(13).text == "WORKDIR /x"
    assert big.instructions[11] == graph.Instruction(13, "WORKDIR /", step=None)
    # From another stage or scratch there is no pull step; a relative WORKDIR resolves against the base's.
    g = parse("FROM scratch AS a\nWORKDIR /\nCOPY f /f\nFROM a AS b\nWORKDIR .\nWORKDIR sub\n")
    assert [(i.text, i.step) for i in g.stages[0].instructions] == [("WORKDIR /", None), ("COPY f /f", 1)]
    assert [(i.text, i.step) for i in g.stages[1].instructions] == [("WORKDIR .", None), ("WORKDIR sub", 1)]


@pytest.mark.parametrize(
    ("platform", "expected"),
    [("linux/amd64", "base-amd64"), ("linux/arm64", "base-arm64"), ("linux/arm/v7", "base-arm")],
)
def test_shell_expansion_forms_in_global_args_select_the_stage(platform: str, expected: str) -> None:
    text = (
        "ARG ARCH=${TARGETPLATFORM#linux/}\nARG ARCH=${ARCH%%/*}\n"
        "FROM scratch AS base-amd64\nCOPY a /a\nFROM scratch AS base-arm64\nCOPY b /b\n"
        "FROM scratch AS base-arm\nCOPY c /c\nFROM base-${ARCH} AS final\nCOPY d /d\n"
    )
    g = parse(text, platform=platform)
    assert order(g) == [expected, "final"]


def test_quotes_in_arg_defaults_are_removed_as_the_lexer_does() -> None:
    g = parse(
        'ARG X=1\nARG X=${X:+"unsupported"}\nARG Y="a-$X"\nARG Z=\'lit$X\'\n'
        "FROM alpine:${X} AS a\nFROM alpine:${Y} AS b\nFROM busybox AS c\nCOPY --from=alpine:3 / /\n"
    )
    assert [s.base for s in g.stages[:2]] == ["alpine:unsupported", "alpine:a-unsupported"]


def test_a_global_arg_without_value_keeps_the_automatic_value() -> None:
    text = "ARG TARGETARCH\nFROM scratch AS stage-amd64\nCOPY a /a\nFROM stage-${TARGETARCH}\nCOPY b /b\n"
    assert order(parse(text)) == ["stage-amd64", "stage-1"]
    # Frontends before 1.11 (this engine's built-in one) set it to "": the FROM is the image 'stage-'.
    with pytest.raises(DockerfileError) as info:
        graph.parse(Path("Dockerfile"), None, "linux/amd64", text=text, frontend=frontends.BUILTIN_OLD)
    assert str(info.value) == (
        "Dockerfile:4: FROM 'stage-' is not a stage and not a valid image reference (invalid reference format). "
        "'ARG TARGETARCH' at line 1 has no value, and the engine's built-in Dockerfile frontend, older than 1.11 "
        "sets TARGETARCH to an empty string there (frontend 1.11 and later keep its value). Remove that line, or "
        "add '# syntax=docker/dockerfile:1' as the first line to use the current frontend."
    )
    text = text.replace("stage-${", "stage${")
    old = graph.parse(Path("Dockerfile"), None, "linux/amd64", text=text, frontend=frontends.BUILTIN_OLD)
    assert old.stages[1].base == "stage" and old.stages[1].deps == ()
    with pytest.raises(DockerfileError) as info:
        graph.parse(
            Path("Dockerfile"),
            text="ARG BUILDPLATFORM\nFROM --platform=$BUILDPLATFORM alpine\n",
            frontend=frontends.BUILTIN_OLD,
        )
    assert str(info.value).startswith("Dockerfile:2: empty platform value from expression $BUILDPLATFORM.")
    assert parse("ARG BUILDPLATFORM\nFROM --platform=$BUILDPLATFORM alpine\n").stages[0].platform


def test_syntax_line_chooses_the_rules() -> None:
    text = "ARG TARGETARCH\nFROM scratch AS samd64\nCOPY a /a\nFROM s${TARGETARCH}\nCOPY b /b\n"
    assert parse("# syntax=docker/dockerfile:1\n" + text).stages[1].base == "samd64"
    assert parse("# syntax=docker/dockerfile:1.7\n" + text).stages[1].base == "s"
    assert parse("# syntax=docker/dockerfile:1.11.1\n" + text).stages[1].base == "samd64"
    assert frontends.from_syntax("docker/dockerfile:1.10-labs").modern is False
    assert frontends.from_syntax("docker.io/docker/dockerfile-upstream:master").modern is True


def test_onbuild_from_a_base_stage_adds_its_source_and_steps() -> None:
    text = (
        "FROM alpine AS src\nRUN s\n"
        "FROM alpine AS base\nONBUILD COPY --from=src /a /a\nONBUILD RUN --mount=from=tools,target=/t t\n"
        "FROM alpine AS tools\nRUN t\n"
        "FROM base AS mid\nRUN m\n"
        "FROM mid AS leaf\nRUN l\n"
    )
    g = parse(text)
    mid = g.find("mid")
    assert order(g, "mid") == ["src", "base", "tools", "mid"]
    assert [(i.text, i.step, i.onbuild) for i in mid.instructions] == [
        ("ONBUILD COPY --from=src /a /a", 1, True),
        ("ONBUILD RUN --mount=from=tools,target=/t t", 2, True),
        ("RUN m", 3, False),
    ]
    assert mid.total == 3
    # Triggers run once: not again in a stage built from mid.
    assert [i.text for i in g.find("leaf").instructions] == ["RUN l"]
    old = graph.parse(Path("Dockerfile"), None, "linux/amd64", text=text, frontend=frontends.BUILTIN_OLD)
    with pytest.raises(DockerfileError) as info:
        old.build_order("mid")
    assert str(info.value).startswith(
        "Dockerfile:4: this ONBUILD trigger copies from stage 'src', which the engine's built-in Dockerfile "
        "frontend, older than 1.11 does not build for it"
    )


def test_an_unnamed_stage_cannot_be_a_target() -> None:
    g = parse("FROM alpine AS a\nRUN a\nFROM alpine\nRUN b\nFROM alpine AS c\nRUN c\n")
    for target in ("stage-1", "1"):
        with pytest.raises(DockerfileError) as info:
            g.build_order(target)
        assert str(info.value) == (
            "Dockerfile:3: stage 1 has no name, and BuildKit can only build a stage by name. "
            "Name it ('FROM alpine AS some-name') and set [project].target (or --target) to that name."
        )
    with pytest.raises(DockerfileError) as info:
        g.build_order("stage-9")
    assert "Stages that can be targeted: a, c." in str(info.value)
    assert order(g, "C") == ["c"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ARG GOLANG_VERSION\nFROM golang:${GOLANG_VERSION}-alpine\n",
            "Dockerfile:2: FROM 'golang:-alpine' is not a stage and not a valid image reference (invalid reference "
            "format). Set GOLANG_VERSION in [build.args], or give the ARG a default.",
        ),
        (
            "FROM alpine AS a\nARG V=3\nFROM alpine:${V}\n",
            "Dockerfile:3: FROM 'alpine:' is not a stage and not a valid image reference (invalid reference format "
            "(empty tag after ':')). ARG V is declared at line 2, inside a stage, where FROM lines cannot see it: "
            "move 'ARG V' above the first FROM (setting it in [build.args] does not help).",
        ),
        (
            "ARG BASE\nFROM ${BASE}\n",
            "Dockerfile:2: base name (${BASE}) should not be blank: it expands to nothing. "
            "Set BASE in [build.args], or give the ARG a default.",
        ),
        (
            "FROM alpine AS build\nRUN a\nFROM Build\n",
            "Dockerfile:3: FROM 'Build' is not a stage and not a valid image reference (invalid reference format: "
            "repository name must be lowercase). Did you mean stage 'build'? FROM matches stage names exactly, and "
            "they are lower case.",
        ),
        (
            "ARG SRC=a\nFROM alpine AS a\nFROM alpine\nCOPY --from=${SRC} /x /x\n",
            "Dockerfile:4: variable expansion is not supported for --from ('${SRC}'). Define a new stage with FROM "
            "using an ARG from the global scope (ARG SRC=...; FROM ${SRC} AS src) and copy from it.",
        ),
        (
            "FROM alpine AS a\nFROM alpine\nRUN --mount=type=bind,from=$SRC,target=/x true\n",
            "Dockerfile:3: 'from' doesn't support variable expansion ('$SRC'), define an alias stage instead "
            "(ARG SRC=...; FROM ${SRC} AS src) and mount from it.",
        ),
        (
            "FROM alpine AS a\nADD --from=a /x /x\n",
            "Dockerfile:2: unknown flag --from for ADD; ADD has no --from: use COPY --from=STAGE. "
            "Remove or fix the flag.",
        ),
        (
            "FROM alpine\nRUNN echo\n",
            "Dockerfile:2: unknown instruction RUNN (did you mean RUN?). Fix the instruction name "
            "(see https://docs.docker.com/reference/dockerfile/).",
        ),
        (
            "FROM alpine\nCOPY onlyone\n",
            "Dockerfile:2: COPY requires at least two arguments, but only 1 was provided. Destination could not be "
            "determined: write COPY SOURCE... DEST.",
        ),
        (
            "FROM alpine AS $NAME\n",
            "Dockerfile:1: invalid name for build stage: '$NAME', name can't start with a number or contain symbols. "
            "Use letters, digits, '-', '_' and '.', starting with a letter (stage names are not expanded: "
            "'AS $NAME' is not a variable).",
        ),
        (
            "FROM alpine AS build\nRUN one\nFROM alpine AS app\nCOPY --from=build /a /a\nFROM alpine AS build\nRUN 2\n"
            "FROM app\n",
            "Dockerfile:4: cannot copy from stage 'build', it needs to be defined before current stage 'app'. "
            "Move stage 'build' above it.",
        ),
        (
            "FROM alpine AS self\nCOPY --from=self /a /b\n",
            "Dockerfile:2: stage 'self' uses itself (--from=self): circular dependency. Copy from another stage.",
        ),
        (
            "ENV A=1\nFROM alpine\n",
            "Dockerfile:1: ENV before the first FROM: only ARG may come before it (BuildKit: no build stage in "
            "current context). Move the line below a FROM.",
        ),
        (
            "FROM --platform=linux/ alpine\n",
            "Dockerfile:1: failed to parse platform linux/: 'linux/' is not OS/ARCH[/VARIANT]. Fix the --platform "
            "value or the ARG it uses.",
        ),
        (
            "FROM alpine\nONBUILD ONBUILD RUN x\n",
            "Dockerfile:2: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed. Remove one ONBUILD.",
        ),
    ],
    ids=lambda v: v[:30] if isinstance(v, str) else v,
)
def test_what_buildkit_refuses_is_refused_with_the_line_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse(text).build_order(None)
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_a_near_miss_of_a_stage_name_is_pulled_as_an_image_but_warned_about() -> None:
    g = parse("FROM alpine AS compile-image\nRUN cc\nFROM alpine\nCOPY --from=compile-imag /a /a\n")
    assert g.stages[1].deps == () and g.stages[1].images == ("alpine", "compile-imag")
    assert g.warnings == (
        "Dockerfile:4: COPY --from 'compile-imag' is not a stage, so BuildKit will pull the image 'compile-imag'. "
        "Did you mean stage 'compile-image'?",
    )
    g = parse("FROM builder\nFROM alpine AS builder\n")
    assert g.stages[0].images == ("builder",)
    assert g.warnings[0].startswith("Dockerfile:1: FROM 'builder' is the image 'builder', not the stage 'builder'")


def test_copy_from_resolves_to_the_last_stage_of_that_name_case_insensitively() -> None:
    g = parse(
        "FROM alpine AS build\nRUN one\nFROM alpine AS build\nRUN two\nFROM build AS next\n"
        "FROM alpine\nCOPY --from=BUILD /a /a\nRUN --mount=from=Build,target=/b true\n"
    )
    assert g.find("next").base_stage == 1
    assert g.stages[3].deps == (1,)


def test_unreadable_files_are_refused_with_their_reason(tmp_path: Path) -> None:
    (tmp_path / "bin").write_bytes(b"FROM a\0\xff")
    (tmp_path / "latin").write_bytes(b"FROM caf\xe9\n")
    (tmp_path / "empty").write_text("  \n")
    (tmp_path / "dir").mkdir()
    cases = {
        "bin": "is not a text file (it contains NUL bytes)",
        "latin": "is not UTF-8 text (invalid continuation byte at byte 8)",
        "empty": "the Dockerfile is empty. Add a FROM instruction.",
        "dir": "is a directory, not a Dockerfile",
    }
    for name, text in cases.items():
        with pytest.raises(DockerfileError) as info:
            graph.parse(tmp_path / name)
        assert text in str(info.value), name


def test_what_older_frontends_do_with_bad_expressions() -> None:
    # Seen on dockerd 26.1.5 (BuildKit 0.13): an error in a global ARG's default leaves it empty...
    text = "ARG X=${UNSET:?must be set}\nFROM alpine${X}\n"
    with pytest.raises(DockerfileError):
        parse(text)
    old = graph.parse(Path("Dockerfile"), None, "linux/amd64", text=text, frontend=frontends.BUILTIN_OLD)
    assert old.stages[0].base == "alpine"
    # ...and an empty #/% pattern panics its lexer, taking dockerd down: refused up front.
    text = "ARG V=1.2\nFROM alpine:${V%}\n"
    assert parse(text).stages[0].base == "alpine:1.2"
    assert parse(text).sensitive == ("Dockerfile:2: an empty #/% pattern (empty pattern in ${V%}) in FROM",)
    with pytest.raises(DockerfileError) as info:
        graph.parse(Path("Dockerfile"), None, "linux/amd64", text=text, frontend=frontends.BUILTIN_OLD)
    assert "has an empty #/% pattern (empty pattern in ${V%}), on which the engine's built-in Dockerfile" in str(
        info.value
    )


def test_bake_asks_the_engine_only_when_an_older_frontend_would_read_a_from_line_differently() -> None:
    asked: list[bool] = []

    def probe(answer: bool):
        def ask() -> bool:
            asked.append(answer)
            return answer

        return ask

    common = "ARG TARGETOS TARGETARCH\nFROM alpine AS build\nRUN --mount=type=cache,target=/c make\n"
    g = graph.parse_for_engine(Path("Dockerfile"), None, "linux/amd64", probe(False), text=common)
    assert g.sensitive == () and asked == [] and g.frontend.source == "assumed"
    text = "ARG TARGETARCH\nFROM scratch AS bamd64\nCOPY a /a\nFROM b${TARGETARCH}\nCOPY b /b\n"
    assert parse(text).sensitive == (
        "Dockerfile:4: 'b${TARGETARCH}' is 'bamd64' by frontend 1.11+ and 'b' by older ones",
    )
    old = graph.parse_for_engine(Path("Dockerfile"), None, "linux/amd64", probe(False), text=text)
    assert old.frontend is frontends.BUILTIN_OLD and old.stages[1].base == "b" and asked == [False]
    new = graph.parse_for_engine(Path("Dockerfile"), None, "linux/amd64", probe(True), text=text)
    assert new.frontend is frontends.BUILTIN_CURRENT and new.stages[1].base == "bamd64"
    # A file that names its frontend is read by its rules; no engine is asked.
    named = graph.parse_for_engine(
        Path("Dockerfile"), None, None, probe(True), text="# syntax=docker/dockerfile:1.6\n" + text
    )
    assert named.frontend.source == "syntax" and named.stages[1].base == "b" and asked == [False, True]
    # An error in a global ARG default fails a 1.11+ build; older ones leave the ARG empty.
    bad = "ARG V=${UNSET:?}\nFROM alpine${V}\n"
    with pytest.raises(DockerfileError):
        graph.parse_for_engine(Path("Dockerfile"), None, None, probe(True), text=bad)
    assert graph.parse_for_engine(Path("Dockerfile"), None, None, probe(False), text=bad).stages[0].base == "alpine"


def old(text: str, args: dict | None = None, platform: str | None = "linux/amd64") -> graph.StageGraph:
    return graph.parse(Path("Dockerfile"), args, platform, text=text, frontend=frontends.BUILTIN_OLD)


@pytest.mark.parametrize(
    "text",
    [
        "ARG N=abc\nARG V=${N%}\nFROM alpine\n",  # where dockerd was seen to crash: a global ARG default
        "ARG N=abc\nARG E=\nARG V=${N#$E}\nFROM alpine\n",  # empty once expanded
        "ARG N=abc\nARG V=${N%${UNSET}}\nFROM alpine\n",
        "FROM alpine\nARG N=abc\nENV V=${N#}\n",
        "FROM alpine\nARG V=${N##}\n",
        "FROM alpine\nWORKDIR /${N%}\n",
        "FROM alpine\nCOPY ${N%} /x\n",
        "FROM alpine\nARG N=abc\nRUN echo ${N%}\n",
    ],
)
def test_an_empty_trim_pattern_is_refused_for_the_frontend_it_crashes(text: str) -> None:
    with pytest.raises(DockerfileError) as info:
        old(text)
    assert "has an empty #/% pattern" in str(info.value) and "the daemon goes down with it" in str(info.value)
    # The current frontend reads it; bake is told to ask the engine which one it has.
    assert any("an empty #/% pattern" in note for note in parse(text).sensitive)


def test_an_empty_trim_pattern_of_an_unset_variable_in_run_is_kept_as_written() -> None:
    # BuildKit names RUN steps with unset variables kept as written (SkipUnsetEnv): no crash there.
    assert old("FROM alpine\nRUN echo ${UNSET%}\n").stages[0].steps[0].text == "RUN echo ${UNSET%}"


@pytest.mark.parametrize("name", ["build-", "a..b", "a_", "a.-b", "x___y"])
def test_a_stage_name_must_also_be_a_valid_image_name(name: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse(f"FROM alpine AS ok\nFROM alpine AS {name}\n").build_order("ok")
    assert str(info.value).startswith(f"Dockerfile:2: invalid context name {name}: invalid reference format.")
    assert order(parse("FROM alpine AS ok.name_1-2\nRUN x\n")) == ["ok.name_1-2"]


def test_workdir_steps_follow_arg_and_env_values() -> None:
    g = parse(
        "FROM alpine AS app\nARG APP_HOME=/app\nWORKDIR $APP_HOME\nRUN x\n"
        "FROM alpine AS two\nENV D=/x\nENV D=/\nWORKDIR $D\nRUN x\n"
        "FROM alpine AS three\nARG HOME_D=/h\nWORKDIR ${HOME_D}/..\nRUN x\n"
        "FROM app AS four\nWORKDIR .\nWORKDIR ..\nWORKDIR ..\nRUN x\n"
        "FROM alpine AS five\nARG ROOT\nWORKDIR /$ROOT\nRUN x\n",
        {"ROOT": ""},
    )
    steps = {s.label: [(i.text, i.step) for i in s.steps] for s in g.stages}
    assert steps["app"] == [("WORKDIR $APP_HOME", 2), ("RUN x", 3)]
    assert steps["two"] == [("RUN x", 2)]  # the last ENV wins: WORKDIR / makes no vertex
    assert steps["three"] == [("WORKDIR ${HOME_D}/..", 2), ("RUN x", 3)]  # absolute: not cleaned
    # WORKDIR . in a stage FROM app is /app (a vertex); .. is / (none); .. again is still / (none).
    assert steps["four"] == [("WORKDIR .", 1), ("RUN x", 2)]
    assert steps["five"] == [("RUN x", 2)]  # the build arg gives ROOT an empty value


def test_onbuild_triggers_before_1_11_are_not_counted_in_the_total() -> None:
    text = (
        "FROM alpine AS base\nRUN b\nONBUILD RUN t\n"
        "FROM base AS child\nRUN own\nWORKDIR /w\n"
        'FROM base AS only\nCMD ["true"]\n'
    )
    new = parse(text)
    assert [(i.text, i.step) for i in new.find("child").steps] == [
        ("ONBUILD RUN t", 1),
        ("RUN own", 2),
        ("WORKDIR /w", 3),
    ]
    assert new.find("child").total == 3 and new.find("only").total == 1
    was = old(text)
    # Seen on BuildKit 0.13: "[child 1/2] RUN t", "[child 2/2] RUN own", "[child 3/2] WORKDIR /w".
    assert [(i.text, i.step) for i in was.find("child").steps] == [("RUN t", 1), ("RUN own", 2), ("WORKDIR /w", 3)]
    assert was.find("child").total == 2
    assert was.find("only").total == 0 and was.find("only").steps == ()  # no prefix at all: no step
    assert any("ONBUILD RUN in a base stage" in note for note in new.sensitive)


def test_an_onbuild_trigger_with_a_heredoc_is_read_whole() -> None:
    g = parse("FROM alpine AS base\nONBUILD RUN <<EOT\necho hi > /t\nEOT\nFROM base AS child\nRUN x\n")
    assert [i.text for i in g.find("child").steps] == ["ONBUILD RUN <<EOT\necho hi > /t\nEOT", "RUN x"]


def test_platforms_are_normalised_as_buildkit_does() -> None:
    text = (
        "FROM scratch AS va\nCOPY a /a\nFROM scratch AS vav7\nCOPY b /b\nFROM va${TARGETVARIANT} AS final\nCOPY c /c\n"
    )
    assert order(parse(text, platform="linux/arm")) == ["vav7", "final"]
    assert parse(text, platform="linux/arm64/v8").platform == "linux/arm64"
    assert graph.normalize_platform("linux/x86_64") == "linux/amd64"
    assert graph.normalize_platform("linux/armhf") == "linux/arm/v7"


@pytest.mark.parametrize(
    ("text", "syntax"),
    [
        ("\ufeff# syntax=docker/dockerfile:1.4\nFROM alpine\n", "docker/dockerfile:1.4"),
        ("#!/usr/bin/env docker\n# syntax=docker/dockerfile:1.4\nFROM alpine\n", "docker/dockerfile:1.4"),
        ("# foo=bar\n# syntax=docker/dockerfile:1\nFROM alpine\n", None),
        ("  # syntax=docker/dockerfile:1\nFROM alpine\n", None),
        ("# escape=`\n# syntax=docker/dockerfile:1.7\nFROM alpine\n", "docker/dockerfile:1.7"),
    ],
)
def test_parser_directives_are_read_as_buildkit_reads_them(text: str, syntax: str | None) -> None:
    fe = parse(text).frontend
    assert (fe.description if fe.source == "syntax" else None) == syntax


def test_the_buildkit_syntax_build_arg_names_the_frontend() -> None:
    g = parse("# syntax=docker/dockerfile:1\nFROM alpine\n", {"BUILDKIT_SYNTAX": "docker/dockerfile:1.7"})
    assert g.frontend.description == "docker/dockerfile:1.7" and not g.frontend.modern


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM alpine\nSHELL []\n", "SHELL requires the JSON form with at least one argument"),
        ("FROM alpine\nSHELL /bin/bash -c\n", "SHELL requires the JSON form with at least one argument"),
        ('FROM alpine\nVOLUME ["", "/data"]\n', "VOLUME specified can not be an empty string"),
        ("FROM alpine AS a\nFROM alpine\nCOPY --FROM=a /a /a\n", "unknown flag --FROM for COPY"),
    ],
)
def test_more_of_what_buildkit_refuses(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=re.escape(message)):
        parse(text)


def test_an_older_frontends_lexer_is_followed_where_it_differs() -> None:
    text = "ARG TAG=latest-rev\nFROM alpine:${TAG:%%-*}\n"
    with pytest.raises(DockerfileError) as info:
        parse(text)
    assert info.value.frontend_sensitive  # so bake asks the engine
    assert old(text).stages[0].base == "alpine:latest"  # BuildKit 0.13 ignores the colon


def test_mount_sources_tmpfs_and_scratch_are_no_dependencies() -> None:
    g = parse(
        "FROM alpine AS a\nRUN a\nFROM alpine AS b\n"
        "RUN --mount=type=tmpfs,from=a,target=/t true\nRUN --mount=type=cache,from=scratch,target=/c true\n"
    )
    assert g.stages[1].deps == () and g.stages[1].images == ("alpine",)


def test_the_unnamed_target_hint_quotes_the_from_line_as_written() -> None:
    g = parse("ARG BASE=alpine\nFROM ${BASE}\nRUN x\nFROM alpine AS b\n")
    with pytest.raises(DockerfileError, match=re.escape("Name it ('FROM ${BASE} AS some-name')")):
        g.build_order("stage-0")


def test_deep_nesting_and_long_chains_are_errors_or_plans_not_tracebacks() -> None:
    deep = "ARG X=" + "${X:-" * 400 + "x" + "}" * 400 + "\nFROM alpine\n"
    with pytest.raises(DockerfileError, match="expressions nested too deeply"):
        parse(deep)
    chain = "FROM alpine AS s0\n" + "".join(f"FROM s{i} AS s{i + 1}\n" for i in range(1100))
    assert len(parse(chain).build_order(None)) == 1101
