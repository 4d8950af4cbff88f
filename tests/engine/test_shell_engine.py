"""Prove tests/data/shell_expand.txt against the engine's own Dockerfile frontend.

BuildKit expands a global ``ARG`` default with the same lexer as ``FROM`` lines
(dockerfile2llb buildMetaArgs), so one Dockerfile declares the table's
environment and then one global ``ARG V<i>=<case>`` per value case; a stage
writes every value to a file, and the files come back with
``--output type=local``. Error cases go on a ``FROM`` line of their own small
Dockerfile, where BuildKit must fail with the same message.

The engine's built-in frontend is older than BuildKit master, whose lex.go the
table follows. Where they differ the difference is listed below, and asserted:
if the engine is upgraded, this test fails and the list has to shrink.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import pytest

from stagecache import shell
from stagecache.shell import ShellError, expand
from tests.conftest import Engine
from tests.test_shell import BACKTICK_CASES, CASES, ENV

# Engine vs current lex.go, by table input: the value this engine (dockerd 26.1 /
# BuildKit v0.13 built-in frontend) gives where current lex.go raises an error.
# moby/buildkit#5146 ("Check invalid environment replacement form like ${VAR:%}",
# reviewed 2024-07-29, after v0.13) made ${X:#p} ${X:##p} ${X:%p} ${X:%%p} errors;
# before it the ':' was ignored and the trim done.
KNOWN_DIFFERENCES: dict[str, str] = {
    "${NAME:#w}": "orld",
    "${NAME:%%o*}": "w",
}

# Global ARG defaults: before moby/buildkit#4856 ("dockerfile: avoid ignoring errors
# global arg expansion", fixing moby/buildkit#4847, April 2024, after v0.13) an expansion
# error in a global ARG default was ignored and the ARG set to "". Current BuildKit fails
# the build with the lexer's message. Asserted below for every error case that can be
# an ARG default: this engine builds it and the ARG is empty.
GLOBAL_ARG_ERRORS_IGNORED = True

# Words that crash the engine. BuildKit v0.13's lex.go evidently reads word[0] of the
# word in ${X#word} / ${X%word} without checking its length: an empty word panics, and
# the built-in frontend runs inside dockerd, so dockerd dies ("panic: runtime error:
# index out of range [0] with length 0 ... shell.(*shellWord).processDollar lex.go:410",
# seen with ${NAME#} while writing this test). Current lex.go checks len(word) > 0 and
# its lex_test.go now runs ${FOO#} ${FOO##} ${FOO%} ${FOO#$BAR} ${FOO/$BAR/ww} ${FOO//}
# ${FOO///} "to make sure partial input does not cause runtime error"; all of that family
# is kept away from the engine, the observed crash and the suspected ones alike, and so
# is a suffix pattern ending in a lone backslash (reversePattern's last-character case).
# They are never sent: expand() follows current lex.go for them (tests/test_shell.py).
EMPTY_TRIM = "empty #/% pattern: BuildKit v0.13 panics on word[0] and takes dockerd down (observed)"
EMPTY_GREEDY_TRIM = "## or %% with nothing after: same code path as the observed panic (suspected)"
EMPTY_SUBST = "empty ${X/pattern/} pattern: fixed with the panic above in later BuildKit (suspected)"
MISSING_SLASH = "${X/p} without its second slash: fixed with the panic above in later BuildKit (suspected)"
SUFFIX_BACKSLASH = "% pattern ending in a lone backslash: reversePattern edge case (suspected)"
ENGINE_CRASHERS: dict[str, str] = {
    "${NAME#}": EMPTY_TRIM,
    "${NAME##}": EMPTY_GREEDY_TRIM,
    "[${EMPTY#}]": EMPTY_TRIM,
    "${NAME#$EMPTY}": EMPTY_TRIM,
    "${NAME%}": EMPTY_TRIM,
    "${NAME%%}": EMPTY_GREEDY_TRIM,
    "[${%}]": EMPTY_TRIM,
    "${NAME%$BS}": SUFFIX_BACKSLASH,
    "${NAME///}": EMPTY_SUBST,
    "${NAME/o}": MISSING_SLASH,
    "${NAME//}": MISSING_SLASH,
}

# Table inputs that cannot be written as `ARG V<i>=<input>` unchanged, with why.
# Every one of them is still run by tests/test_shell.py.
CONTINUES_LINE = "ends with the escape token, which continues the Dockerfile line"
SPLITS = "the Dockerfile ARG parser splits it at an unquoted space into several ARGs"
ENGINE_SKIPS: dict[str, str] = {
    "trailing\\": CONTINUES_LINE,
    '"abc\\': CONTINUES_LINE,
    "${ NAME}": SPLITS,
}
# The same for tests.test_shell.BACKTICK_CASES, in a `# escape=`` Dockerfile.
BACKTICK_SKIPS: dict[str, str] = {"trailing`": CONTINUES_LINE}
# Error cases that cannot be the image of a FROM line (split at any whitespace).
FROM_SKIPS: dict[str, str] = {
    "${ NAME}": "FROM splits its line at whitespace",
    '"abc\\': CONTINUES_LINE,
}


def _lone_trailing_backslash(pattern: str) -> bool:
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "\\" and i + 1 < n:
            i += 2
        elif i == n - 1:
            return pattern[i] == "\\"
        else:
            i += 1
    return False


def _crash_risk(word: str, escape: str = "\\") -> str | None:
    """Why sending ``word`` could crash the engine (see ENGINE_CRASHERS), found by
    watching what stagecache.shell does with it, or None."""
    risks: list[str] = []
    real_prefix, real_suffix, real_compile = shell._trim_prefix, shell._trim_suffix, shell._compile_pattern

    def trim_prefix(pattern: str, value: str, greedy: bool) -> str:
        if not pattern:
            risks.append(EMPTY_GREEDY_TRIM if greedy else EMPTY_TRIM)
        return real_prefix(pattern, value, greedy)

    def trim_suffix(pattern: str, value: str, greedy: bool) -> str:
        if not pattern:
            risks.append(EMPTY_GREEDY_TRIM if greedy else EMPTY_TRIM)
        elif _lone_trailing_backslash(pattern):
            risks.append(SUFFIX_BACKSLASH)
        return real_suffix(pattern, value, greedy)

    def compile_pattern(pattern: str, greedy: bool, anchored: bool) -> object:
        if not anchored and not pattern:
            risks.append(EMPTY_SUBST)
        return real_compile(pattern, greedy, anchored)

    with mock.patch.multiple(
        shell, _trim_prefix=trim_prefix, _trim_suffix=trim_suffix, _compile_pattern=compile_pattern
    ):
        try:
            expand(word, ENV, escape)
        except ShellError as exc:
            if "missing '/'" in exc.message:
                risks.append(MISSING_SLASH)
    return risks[0] if risks else None


def _arg_words(rest: str, escape: str) -> list[str]:
    """How the Dockerfile parser splits the text after ``ARG`` into name[=value] words:
    at unquoted whitespace; quotes and escapes are kept for the lexer, except an
    escape token at the very end."""
    words: list[str] = []
    word: list[str] = []
    in_word = quoted = False
    quote = ""
    i, n = 0, len(rest)
    while i < n:
        ch = rest[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    quote = ""
                    i += 1
                    continue
                word.append(ch)
                i += 1
                ch = rest[i]
            word.append(ch)
            i += 1
            continue
        if ch.isspace():
            if in_word and (word or quoted):
                words.append("".join(word))
            word, in_word, quoted = [], False, False
            i += 1
            continue
        in_word = True
        if ch in ("'", '"'):
            quote, quoted = ch, True
        elif ch == escape:
            if i + 1 == n:
                i += 1
                continue
            word.append(ch)
            i += 1
            ch = rest[i]
        word.append(ch)
        i += 1
    if in_word and (word or quoted):
        words.append("".join(word))
    return words


def _arg_problem(word: str, escape: str = "\\") -> str | None:
    """Why ``ARG X=<word>`` would not hand ``word`` to the lexer unchanged, or None."""
    if word.rstrip(" \t").endswith(escape):
        return CONTINUES_LINE
    if _arg_words(f"X={word}", escape) != [f"X={word}"]:
        return SPLITS
    return None


def _from_problem(word: str) -> str | None:
    if any(ch.isspace() for ch in word):
        return "FROM splits its line at whitespace"
    if word.endswith("\\"):
        return CONTINUES_LINE
    return None


def _env_lines() -> list[str]:
    """The table's environment as global ARGs; values the lexer would touch are single-quoted."""
    lines = []
    for key, value in ENV.items():
        plain = value and not any(ch in value for ch in "$'\"\\` \t")
        literal = value if plain else f"'{value}'"
        assert "'" not in value and expand(literal, {}).value == value
        lines.append(f"ARG {key}={literal}")
    return lines


def _probe_dockerfile(engine: Engine, values: list[str], escape: str = "\\") -> str:
    """Global ARG V<i>=<value> for each value, then a stage that writes each one to /out/V<i>."""
    lines = [f"# escape={escape}"] if escape != "\\" else []
    lines += _env_lines()
    lines += [f"ARG V{i}={word}" for i, word in enumerate(values)]
    lines.append(f"FROM {engine.local_base_image} AS probe")
    lines += [f"ARG V{i}" for i in range(len(values))]
    writes = " && ".join(f"printf '%s' \"$V{i}\" > /out/V{i}" for i in range(len(values)))
    lines.append(f"RUN mkdir /out && {writes}")
    lines += ["FROM scratch", "COPY --from=probe /out /", ""]
    return "\n".join(lines)


def _build(tmp: Path, name: str, dockerfile: str, output: bool) -> subprocess.CompletedProcess[str]:
    folder = tmp / name
    (folder / "context").mkdir(parents=True)
    (folder / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    argv = ["docker", "buildx", "build", "--progress", "plain", "--network", "none"]
    if output:
        argv += ["--output", f"type=local,dest={folder / 'out'}"]
    argv += ["-f", str(folder / "Dockerfile"), str(folder / "context")]
    return subprocess.run(argv, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=180)


def _values(tmp: Path, name: str, engine: Engine, words: list[str], escape: str = "\\") -> list[str]:
    """What the engine makes of each word as a global ARG default."""
    result = _build(tmp, name, _probe_dockerfile(engine, words, escape), output=True)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp / name / "out"
    return [(out / f"V{i}").read_bytes().decode("utf-8") for i in range(len(words))]


def test_table_matches_the_engine(engine: Engine, tmp_path: Path) -> None:
    value_cases = [c for c in CASES if c.expected is not None or c.word in KNOWN_DIFFERENCES]
    error_cases = [c for c in CASES if c.expected is None and c.word not in KNOWN_DIFFERENCES]

    # Nothing is skipped silently: the skip lists are exactly what the rules give.
    found_crashers = {c.word: r for c in CASES if (r := _crash_risk(c.word)) is not None}
    assert found_crashers == ENGINE_CRASHERS
    assert not [w for w, _, _ in BACKTICK_CASES if _crash_risk(w, "`")]
    value_cases = [c for c in value_cases if c.word not in ENGINE_CRASHERS]
    error_cases = [c for c in error_cases if c.word not in ENGINE_CRASHERS]
    found_skips = {c.word: p for c in CASES if (p := _arg_problem(c.word)) is not None}
    assert found_skips == ENGINE_SKIPS
    found_from_skips = {c.word: p for c in error_cases if (p := _from_problem(c.word)) is not None}
    assert found_from_skips == FROM_SKIPS
    assert set(KNOWN_DIFFERENCES) <= {c.word for c in CASES}
    assert {w: p for w, _, _ in BACKTICK_CASES if (p := _arg_problem(w, "`")) is not None} == BACKTICK_SKIPS

    values = [c for c in value_cases if c.word not in ENGINE_SKIPS]
    arg_errors = [c for c in error_cases if c.word not in ENGINE_SKIPS]
    from_errors = [c for c in error_cases if c.word not in FROM_SKIPS]
    backtick = [case for case in BACKTICK_CASES if case[0] not in BACKTICK_SKIPS]

    with ThreadPoolExecutor(max_workers=8) as pool:
        main = pool.submit(_values, tmp_path, "values", engine, [c.word for c in values])
        ignored = pool.submit(_values, tmp_path, "arg-errors", engine, [c.word for c in arg_errors])
        ticks = pool.submit(_values, tmp_path, "backtick", engine, [w for w, _, _ in backtick], "`")
        failures = {
            c.word: pool.submit(
                _build, tmp_path, f"from-{c.line}", "\n".join([*_env_lines(), f"FROM {c.word}", ""]), False
            )
            for c in from_errors
        }

        problems: list[str] = []
        for case, got in zip(values, main.result(), strict=True):
            if case.word in KNOWN_DIFFERENCES:
                if got != KNOWN_DIFFERENCES[case.word]:
                    problems.append(f"L{case.line} {case.word!r}: known difference changed, engine now gives {got!r}")
                continue
            if got != case.expected:
                problems.append(f"L{case.line} {case.word!r}: engine {got!r}, table {case.expected!r}")
            if expand(case.word, ENV).value != got:
                problems.append(f"L{case.line} {case.word!r}: expand() differs from the engine {got!r}")

        for case, got in zip(arg_errors, ignored.result(), strict=True):
            if GLOBAL_ARG_ERRORS_IGNORED and got != "":
                problems.append(f"L{case.line} {case.word!r}: global ARG error gave {got!r}, not ''")

        for (word, expected, _error), got in zip(backtick, ticks.result(), strict=True):
            wanted = "" if expected is None else expected  # errors: ignored in global ARGs, see above
            if got != wanted:
                problems.append(f"backtick {word!r}: engine {got!r}, expected {wanted!r}")

        for word, future in failures.items():
            result = future.result()
            case = next(c for c in from_errors if c.word == word)
            if result.returncode == 0:
                problems.append(f"L{case.line} FROM {word}: the engine built it")
            elif f"failed to process {_go_quote(word)}: " not in result.stderr or case.error not in result.stderr:
                tail = result.stderr.strip().splitlines()[-1:]
                problems.append(f"L{case.line} FROM {word}: engine said {tail}, table {case.error!r}")

    assert not problems, "\n".join(problems)
    verified = len(values) - len(KNOWN_DIFFERENCES) + len(from_errors)
    print(
        f"engine-verified table cases: {verified} of {len(CASES)} "
        f"({len(values) - len(KNOWN_DIFFERENCES)} values, {len(from_errors)} errors on FROM lines; "
        f"{len(KNOWN_DIFFERENCES)} known differences, {len(ENGINE_CRASHERS)} kept away as engine crashers, "
        f"{len(ENGINE_SKIPS)} not expressible as an ARG); "
        f"{len(arg_errors)} errors checked as ignored in global ARGs; {len(backtick)} backtick cases"
    )
    assert verified >= 100


def _go_quote(text: str) -> str:
    """Go's %q for the ASCII-and-printable text of the table (enough for these words)."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


@pytest.mark.parametrize("word", ["${UNSET:?}", "${}", "${NAME#w}", "${NAME//o/0}"])
def test_skip_helpers(word: str) -> None:
    """The helpers behind the skip lists: an ordinary word is expressible everywhere and safe."""
    assert _arg_problem(word) is None and _from_problem(word) is None and _crash_risk(word) is None
    assert _arg_problem("a b") == SPLITS and _arg_problem('"a b"') is None
    assert _arg_problem("x\\") == CONTINUES_LINE
    assert _crash_risk("${UNSET:-${NAME%}}") == EMPTY_TRIM
