"""stagecache.shell: BuildKit's Dockerfile word expansion.

The bulk of the cases are in tests/data/shell_expand.txt (one per line, ids are
line numbers); tests/engine/test_shell_engine.py proves the same table against
the real engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from stagecache.shell import Expansion, ShellError, expand

TABLE = Path(__file__).resolve().parent / "data" / "shell_expand.txt"

# The environment of the table (and of the engine proof).
ENV: dict[str, str] = {
    "NAME": "world",
    "EMPTY": "",
    "PLATFORM": "linux/arm64/v8",
    "PATHV": "/usr/local/bin:/usr/bin",
    "VERSION": "v1.2.3",
    "FILE": "archive.tar.gz",
    "STARS": "a*b*c",
    "QMARK": "what?",
    "BS": "\\",
    "DOLLAR0": "$0",
    "SPACED": "a b",
    "SLASHES": "/a/b/c",
    "PAT": "*/",
    "REPL": "./",
    "REPEAT": "aaaa",
    "DOTS": "1.2.3.4",
    "UNI": "naïve-café",
    "MIXED": "Hello-World_2",
    "DIGITS": "2024",
    "BRACE": "a}",
    "QUOTE": '"',
    "URL": "https://example.com/x",
}

# Cases with the backtick escape token (`# escape=``), same environment:
# (input, expected value or None for an error, error substring).
BACKTICK_CASES: list[tuple[str, str | None, str]] = [
    ("`$NAME", "$NAME", ""),
    ("a`b", "ab", ""),
    ("a``b", "a`b", ""),
    # a backslash is an ordinary character now
    ("\\$NAME", "\\world", ""),
    ("a\\\\b", "a\\\\b", ""),
    ('"a`"b"', 'a"b', ""),
    ('"a\\b"', "a\\b", ""),
    ('"`$NAME"', "$NAME", ""),
    ("'`$NAME'", "`$NAME", ""),
    ("${UNSET:-`}}", "}", ""),
    ("${UNSET:-a`b}", "ab", ""),
    # the pattern language always escapes with a backslash ...
    ("${STARS#a\\*}", "b*c", ""),
    # ... and keeps the backtick of the raw word as a plain character
    ("${STARS#a`*}", "a*b*c", ""),
    ("${SLASHES//`//:}", "/a/b/c", ""),
    # the backslash no longer protects '/', so the pattern is a lone backslash
    ("${SLASHES//\\//:}", None, "invalid pattern (\\) in substitution"),
    ("trailing`", "trailing", ""),
]


@dataclass(frozen=True)
class Case:
    """One line of the table."""

    line: int
    word: str
    expected: str | None  # None: an error is expected
    error: str  # substring of the error message

    @property
    def id(self) -> str:
        return f"L{self.line}"


def load_cases(path: Path = TABLE) -> list[Case]:
    """Parse the table: `input | expected` or `input | error: message`, '#' comments."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        word, sep, expected = line.partition(" | ")
        assert sep, f"{path.name}:{number}: no ' | ' separator"
        word, expected = word.strip(), expected.strip()
        if expected.startswith("error: "):
            cases.append(Case(number, word, None, expected[len("error: ") :]))
        else:
            cases.append(Case(number, word, expected, ""))
    return cases


CASES = load_cases()


def test_table_size() -> None:
    assert len(CASES) >= 120
    assert sum(c.expected is None for c in CASES) >= 30
    assert len({c.word for c in CASES}) == len(CASES), "duplicate inputs in the table"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_table(case: Case) -> None:
    if case.expected is None:
        with pytest.raises(ShellError) as info:
            expand(case.word, ENV)
        assert case.error in str(info.value)
        assert info.value.word == case.word
    else:
        assert expand(case.word, ENV).value == case.expected


@pytest.mark.parametrize(("word", "expected", "error"), BACKTICK_CASES)
def test_backtick_escape(word: str, expected: str | None, error: str) -> None:
    if expected is None:
        with pytest.raises(ShellError, match=None) as info:
            expand(word, ENV, "`")
        assert error in str(info.value)
    else:
        assert expand(word, ENV, escape="`").value == expected


def test_backslash_is_literal_with_backtick_escape_but_escapes_by_default() -> None:
    assert expand("a\\$NAME", ENV).value == "a$NAME"
    assert expand("a\\$NAME", ENV, "`").value == "a\\world"


@pytest.mark.parametrize(
    ("word", "matched", "unmatched"),
    [
        ("x", set(), set()),
        ("x ${UNUSED}", set(), {"UNUSED"}),
        ("$NAME", {"NAME"}, set()),
        ("${NAME-a} ${EMPTY-b} ${UNSET-c}", {"NAME", "EMPTY"}, {"UNSET"}),
        ("${UNSET:-${NAME}}", {"NAME"}, {"UNSET"}),
        # the word is expanded even when the variable makes it unused
        ("${NAME:-$OTHER}", {"NAME"}, {"OTHER"}),
        ("${NAME:+$OTHER}", {"NAME"}, {"OTHER"}),
        ("${VERSION#$PAT}${FILE%$UNSET}", {"VERSION", "PAT", "FILE"}, {"UNSET"}),
        ("${NAME/$PAT/$REPL}", {"NAME", "PAT", "REPL"}, set()),
        ("$1 $@ ${#}", set(), {"1", "@", "#"}),
        # single quotes hide the name; an escaped $ is no reference
        ("'$NAME' \\$UNSET", set(), set()),
        ('"$NAME"', {"NAME"}, set()),
        # the empty name of ${%} is looked up too
        ("${%}", set(), {""}),
    ],
)
def test_matched_and_unmatched(word: str, matched: set[str], unmatched: set[str]) -> None:
    result = expand(word, ENV)
    assert result.matched == frozenset(matched)
    assert result.unmatched == frozenset(unmatched)


def test_expansion_is_a_frozen_value() -> None:
    result = expand("$NAME-$UNSET", ENV)
    assert result == Expansion("world-", frozenset({"NAME"}), frozenset({"UNSET"}))
    with pytest.raises(AttributeError):
        result.value = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$UNSET", "$UNSET"),
        ("${UNSET}", "${UNSET}"),
        ("${UNSET:-y}", "${UNSET:-y}"),
        ("${UNSET-y}", "${UNSET-y}"),
        ("${UNSET:+y}", "${UNSET:+y}"),
        ("${UNSET#a*}", "${UNSET#a*}"),
        ("${UNSET%%.*}", "${UNSET%%.*}"),
        # the kept word is the expanded one; #/% words keep their escapes
        ("${UNSET:-$NAME}", "${UNSET:-world}"),
        ("${UNSET#a\\*}", "${UNSET#a\\*}"),
        ("${UNSET:-a\\}b}", "${UNSET:-a}b}"),
        # an unset ? is not an error, and neither is an unknown modifier
        ("${UNSET?must be set}", "${UNSET?must be set}"),
        ("${UNSET:?}", "${UNSET:?}"),
        ("${UNSET:=x}", "${UNSET:=x}"),
        ("${UNSET/a/b}", "${UNSET/a/b}"),
        # BuildKit writes // back with one slash
        ("${UNSET//a/b}", "${UNSET/a/b}"),
        ("$1-$@", "$1-$@"),
        # set variables (even empty ones) still expand
        ("$NAME ${EMPTY:-d} ${NAME#w} ${UNSET:-$UNSET2}", "world d orld ${UNSET:-$UNSET2}"),
        ("a'$UNSET'b", "a$UNSETb"),
    ],
)
def test_skip_unset(word: str, expected: str) -> None:
    assert expand(word, ENV, skip_unset=True).value == expected


def test_skip_unset_still_reports_lookups_and_errors() -> None:
    result = expand("${UNSET:-$NAME}", ENV, skip_unset=True)
    assert result.matched == {"NAME"} and result.unmatched == {"UNSET"}
    with pytest.raises(ShellError, match="EMPTY: is not allowed to be empty"):
        expand("${EMPTY:?}", ENV, skip_unset=True)
    with pytest.raises(ShellError, match="bad substitution"):
        expand("${}", ENV, skip_unset=True)
    with pytest.raises(ShellError, match=r"unsupported modifier \(:#\)"):
        expand("${UNSET:#x}", ENV, skip_unset=True)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("'a b'", "'a b'"),
        ('"a b"', '"a b"'),
        ("\"$NAME\"-'$NAME'", "\"world\"-'$NAME'"),
        ('x"\\""y', 'x"""y'),
        ("${UNSET:-'q'}", "'q'"),
        ("${NAME#'w'}", "world"),  # the quotes stay in the pattern, which no longer matches
        ("\\'", "'"),
    ],
)
def test_raw_quotes(word: str, expected: str) -> None:
    assert expand(word, ENV, raw_quotes=True).value == expected


def test_raw_quotes_with_skip_unset_round_trips() -> None:
    word = "\"${UNSET:-x}\"-'$UNSET'-$NAME"
    assert expand(word, ENV, skip_unset=True, raw_quotes=True).value == "\"${UNSET:-x}\"-'$UNSET'-world"


def test_shell_error_is_a_value_error_with_buildkit_text() -> None:
    with pytest.raises(ValueError) as info:
        expand("a${UNSET:?set UNSET}", ENV)
    assert str(info.value) == "UNSET: set UNSET"
    assert isinstance(info.value, ShellError)
    assert info.value.message == "UNSET: set UNSET"
    assert info.value.word == "a${UNSET:?set UNSET}"


def test_escape_must_be_one_character() -> None:
    with pytest.raises(ValueError):
        expand("$NAME", ENV, escape="")


def test_plain_words_skip_the_lexer() -> None:
    assert expand("docker.io/library/alpine:3.20", ENV) == Expansion(
        "docker.io/library/alpine:3.20", frozenset(), frozenset()
    )


def test_env_is_any_mapping() -> None:
    from types import MappingProxyType

    assert expand("${NAME}", MappingProxyType({"NAME": "x"})).value == "x"


def test_fast_enough_for_planning() -> None:
    """A 60-stage Dockerfile expands a few hundred words; that must cost milliseconds."""
    words = [
        "${REGISTRY:-docker.io}/library/python:${PY_VERSION:-3.12}-slim",
        "--platform=${BUILDPLATFORM}",
        "${BASE_IMAGE}",
        "ghcr.io/acme/app:${VERSION#v}",
        "${PLATFORM%%/*}-${PLATFORM##*/}",
        "builder-${TARGETARCH/amd64/x86_64}",
        "plain-name",
    ]
    env = dict(ENV, BUILDPLATFORM="linux/amd64", TARGETARCH="amd64", PY_VERSION="3.11")
    start = time.perf_counter()
    for _ in range(100):  # 700 words, more than a big plan needs
        for word in words:
            expand(word, env)
    assert time.perf_counter() - start < 0.25
