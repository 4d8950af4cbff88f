"""BuildKit's Dockerfile word expansion, reimplemented.

The Dockerfile frontend expands ``$VAR`` and ``${VAR...}`` in ``FROM`` lines,
``ARG`` defaults, ``--platform`` values and most other instructions with its
own small shell lexer (moby/buildkit ``frontend/dockerfile/shell/lex.go``).
It is not a POSIX shell: quotes and escapes, the modifier forms, the pattern
language and the error texts all follow that lexer, and so does this module,
quirks included (they are pointed out where the code does something a shell
would not).

The one entry point is :func:`expand`; it behaves like BuildKit's
``Lex.ProcessWordWithMatches`` on Linux (environment keys are case-sensitive).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Expansion", "ShellError", "expand"]

# A Go rune that text/scanner returns at the end of input prints as U+FFFD
# when lex.go formats it into an error message (string(rune(-1))).
_EOF_CHAR = "\ufffd"

# lex.go isSpecialParam: these read as a one-character name after '$' or '${'.
_SPECIAL_PARAMS = frozenset("@*#?-$!0")

# Characters that are regex syntax for Go's regexp and so are quoted when a
# shell pattern is converted (lex.go convertShellPatternToRegex).
_REGEX_META = frozenset("[]{}.+()|^$")


class ShellError(ValueError):
    """A word BuildKit refuses to expand; the message is BuildKit's own text.

    BuildKit reports it as ``failed to process "<word>": <message>``; ``word``
    holds the word that was being expanded.
    """

    def __init__(self, message: str, word: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.word = word


class EmptyTrimPattern(ShellError):
    """``${X#}``-style expansion with an empty pattern (see ``refuse_empty_trim``)."""


@dataclass(frozen=True)
class Expansion:
    """The result of :func:`expand`.

    ``matched`` are the variable names that were looked up and set (possibly
    to an empty value); ``unmatched`` the ones looked up but not set.
    """

    value: str
    matched: frozenset[str]
    unmatched: frozenset[str]


def expand(
    word: str,
    env: Mapping[str, str],
    escape: str = "\\",
    *,
    skip_unset: bool = False,
    raw_quotes: bool = False,
    refuse_empty_trim: bool = False,
    legacy: bool = False,
) -> Expansion:
    """Expand ``word`` against ``env`` exactly as BuildKit's Dockerfile lexer does.

    Args:
        word: the text to expand, e.g. a ``FROM`` image or an ``ARG`` default.
        env: variable values; a key that is present is "set", even when empty.
        escape: the Dockerfile escape token, ``\\`` or a backtick (``# escape=```).
        skip_unset: BuildKit's ``SkipUnsetEnv``: a reference to an unset
            variable is kept as written instead of expanding (or failing).
        raw_quotes: BuildKit's ``RawQuotes``: keep quote characters in the result.
        refuse_empty_trim: raise EmptyTrimPattern for ``${X#}``, ``${X%%}``... whose pattern is
            empty once expanded: BuildKit 0.13's lexer indexes its first character and panics
            (taking dockerd down with it, when the frontend is the built-in one).
        legacy: the lexer of frontends before 1.11 (BuildKit 0.13, seen on this project's
            engine): ``${X:#p}`` and ``${X:%p}`` ignore the colon and trim, where later ones
            refuse them (moby/buildkit#5146).

    Returns:
        The expanded value and the names that were and were not found.

    Raises:
        ShellError: on a syntax error, an unset or empty ``${X?}``/``${X:?}``,
            an unsupported modifier or an invalid pattern.
    """
    if len(escape) != 1:
        raise ValueError(f"escape token must be one character, not {escape!r}")
    if "$" not in word and "'" not in word and '"' not in word and escape not in word:
        return Expansion(word, frozenset(), frozenset())  # nothing to do: the common case
    lexer = _Lexer(word, env, escape, skip_unset, raw_quotes)
    lexer.refuse_empty_trim = refuse_empty_trim
    lexer.legacy = legacy
    try:
        value = lexer.stop_on("", raw=False)
    except EmptyTrimPattern as exc:
        raise EmptyTrimPattern(exc.message, word) from None
    except ShellError as exc:
        raise ShellError(exc.message, word) from None
    except RecursionError:
        raise ShellError("expressions nested too deeply", word) from None
    return Expansion(value, frozenset(lexer.matched), frozenset(lexer.unmatched))


class _Lexer:
    """One pass over a word; ``pos`` indexes the next unread character."""

    __slots__ = (
        "text",
        "end",
        "pos",
        "env",
        "escape",
        "skip_unset",
        "raw_quotes",
        "refuse_empty_trim",
        "legacy",
        "matched",
        "unmatched",
    )

    def __init__(self, text: str, env: Mapping[str, str], escape: str, skip_unset: bool, raw_quotes: bool) -> None:
        self.text = text
        self.end = len(text)
        self.pos = 0
        self.env = env
        self.escape = escape
        self.skip_unset = skip_unset
        self.raw_quotes = raw_quotes
        self.refuse_empty_trim = False
        self.legacy = False
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    def peek(self) -> str:
        """The next character, or '' at the end."""
        return self.text[self.pos] if self.pos < self.end else ""

    def lookup(self, name: str) -> str | None:
        """The value of ``name`` (None when unset), recording the lookup."""
        value = self.env.get(name)
        if value is None:
            self.unmatched.add(name)
        else:
            self.matched.add(name)
        return value

    def stop_on(self, stop: str, raw: bool) -> str:
        """Read up to ``stop`` (consumed; '' means the end of the word) and return the expansion.

        ``raw`` is lex.go's rawEscapes: the escape token is kept in the output
        (it still protects the next character from being special). lex.go scopes
        the flag to one processStopOn call, which passing it down reproduces.
        """
        text, escape = self.text, self.escape
        out: list[str] = []
        while self.pos < self.end:
            ch = text[self.pos]
            if ch == stop:
                self.pos += 1
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
            elif ch == "'":
                out.append(self.single_quote())
            elif ch == '"':
                out.append(self.double_quote(raw))
            elif ch == escape:
                if raw:
                    out.append(ch)
                self.pos += 1
                if self.pos >= self.end:
                    break  # lex.go: an escape at the very end is dropped
                out.append(text[self.pos])
                self.pos += 1
            else:
                # Copy the run of ordinary characters in one go.
                start = self.pos
                self.pos += 1
                while self.pos < self.end and text[self.pos] not in ("$", "'", '"', escape, stop):
                    self.pos += 1
                out.append(text[start : self.pos])
        if stop:
            # Every caller replaces this text (the scanner is at the end by now),
            # but it is lex.go's message for a stop character never seen.
            raise ShellError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out)

    def single_quote(self) -> str:
        """A '...' string: everything literal up to the next single quote."""
        start = self.pos + 1
        close = self.text.find("'", start)
        if close < 0:
            self.pos = self.end
            raise ShellError("unexpected end of statement while looking for matching single-quote")
        self.pos = close + 1
        inner = self.text[start:close]
        return f"'{inner}'" if self.raw_quotes else inner

    def double_quote(self, raw: bool) -> str:
        """A "..." string: ``$`` expands; the escape token escapes only ``"``, ``$`` and itself."""
        text, escape = self.text, self.escape
        out: list[str] = ['"'] if self.raw_quotes else []
        self.pos += 1
        while True:
            if self.pos >= self.end:
                raise ShellError("unexpected end of statement while looking for matching double-quote")
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                if self.raw_quotes:
                    out.append('"')
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.pos += 1
            if ch == escape:
                if raw:
                    out.append(ch)
                if self.pos >= self.end:
                    continue  # lex.go ignores it; the loop then reports the missing quote
                nxt = text[self.pos]
                if nxt in ('"', "$", escape):
                    ch = nxt
                    self.pos += 1
                # Otherwise the escape token itself is the character written, so in raw
                # mode lex.go writes it twice: "\a" -> \\a.
            out.append(ch)

    def name(self) -> str:
        """lex.go processName: a run of letters, digits and '_'; all digits when it starts with
        one ($10 is one name); a single special parameter character; or ''."""
        text, pos, end = self.text, self.pos, self.end
        if pos >= end:
            return ""
        ch = text[pos]
        if ch.isdecimal():  # unicode.IsDigit: category Nd
            stop = pos + 1
            while stop < end and text[stop].isdecimal():
                stop += 1
            self.pos = stop
            return text[pos:stop]
        if ch in _SPECIAL_PARAMS:
            self.pos = pos + 1
            return ch
        stop = pos
        while stop < end and (text[stop].isalpha() or text[stop].isdecimal() or text[stop] == "_"):
            stop += 1
        self.pos = stop
        return text[pos:stop]

    def dollar(self) -> str:
        """lex.go processDollar: ``$NAME`` or one of the ``${...}`` forms (at a '$')."""
        self.pos += 1
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"  # '$' before anything that is not a name stays itself
            value = self.lookup(name)
            if value is None:
                return "$" + name if self.skip_unset else ""
            return value

        self.pos += 1
        first = self.peek()
        if first == "":
            raise ShellError("syntax error: missing '}'")
        if first in ("{", "}", ":"):
            raise ShellError("syntax error: bad substitution")  # ${{x}, ${}, ${:x}
        name = self.name()
        op = self.peek() or _EOF_CHAR  # lex.go formats the scanner's EOF as U+FFFD
        self.pos += 1

        if op == "}":
            value = self.lookup(name)
            if value is None:
                return "${" + name + "}" if self.skip_unset else ""
            return value
        if op == "/":
            return self.substitute(name)
        if op not in (":", "+", "-", "?", "#", "%"):
            raise ShellError(f"unsupported modifier ({op}) in substitution")

        mods = op
        null_is_unset = op == ":"  # lex.go: the ':' makes an empty value count as unset
        if null_is_unset:
            op = self.peek() or _EOF_CHAR
            self.pos += 1
            mods += op
        trim = op in ("#", "%")
        if null_is_unset and trim and not self.legacy:
            # ${X:#p} / ${X:%p} are refused before the word is read (BuildKit PR #5146).
            raise ShellError(f"unsupported modifier ({mods}) in substitution")
        # The word is expanded before the variable is even looked at, so an error in
        # it fails the whole expansion whatever the variable holds. #/% read it with
        # raw escapes: they belong to the pattern.
        word = self.stop_on_brace("}", raw=trim, missing="syntax error: missing '}'")
        value = self.lookup(name)
        if value is None and self.skip_unset:
            return "${" + name + mods + word + "}"
        unset = value is None or (null_is_unset and value == "")
        if op == "-":
            return word if unset else str(value)
        if op == "+":
            return "" if unset else word
        if op == "?":
            if value is None:
                raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ShellError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if trim:
            # '#' / '%' remove the shortest match, '##' / '%%' the longest.
            greedy = word.startswith(op)
            if greedy:
                word = word[1:]
            if self.refuse_empty_trim and not word:
                raise EmptyTrimPattern(f"empty pattern in ${{{name}{mods}{op if greedy else ''}}}")
            if op == "%":
                return _trim_suffix(word, value or "", greedy)
            return _trim_prefix(word, value or "", greedy)
        raise ShellError(f"unsupported modifier ({mods}) in substitution")  # ${X=w}, ${X:=w}, ...

    def stop_on_brace(self, stop: str, raw: bool, missing: str) -> str:
        """stop_on inside ``${...}``: reaching the end of the word, however it
        happened (even inside a nested quote or ``${``), reports ``missing``;
        other errors (a nested ``${X?}``, a bad nested form) pass through."""
        try:
            return self.stop_on(stop, raw)
        except ShellError:
            if self.pos >= self.end:
                raise ShellError(missing) from None
            raise

    def substitute(self, name: str) -> str:
        """``${NAME/pattern/repl}`` (first match) and ``${NAME//pattern/repl}`` (all)."""
        replace_all = self.peek() == "/"
        if replace_all:
            self.pos += 1
        # Both parts keep their escapes: "\/" is a '/' in the pattern and stays "\/"
        # in the replacement (lex.go reads both with rawEscapes).
        pattern = self.stop_on_brace("/", raw=True, missing="syntax error: missing '/' in ${}")
        repl = self.stop_on_brace("}", raw=True, missing="syntax error: missing '}'")
        value = self.lookup(name)
        if value is None:
            if self.skip_unset:
                # lex.go writes the form back with one '/' even for '//'.
                return "${" + name + "/" + pattern + "/" + repl + "}"
            value = ""
        rx = _compile_pattern(pattern, greedy=True, anchored=False)
        if not replace_all:
            m = rx.search(value)
            # Go's regexp.FindStringIndex + splice: the replacement is used as is.
            return value if m is None else value[: m.start()] + repl + value[m.end() :]
        return _replace_all(rx, value, repl)


def _convert_pattern(pattern: str, greedy: bool, anchored: bool) -> str:
    """lex.go convertShellPatternToRegex: ``*`` any run (shortest unless greedy), ``?`` one
    character, ``\\*`` ``\\?`` ``\\\\`` literal, ``\\}`` and ``\\/`` drop the backslash, no
    bracket expressions. The pattern escape is always a backslash, whatever the
    Dockerfile's escape token."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            nxt = pattern[i] if i < n else ""
            if nxt in ("}", "/"):
                continue  # the escape only protected it inside ${...}; the next round copies it
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise ShellError(f"invalid escape '\\{nxt or _EOF_CHAR}'")
            out.append("\\" + nxt)
        elif ch in _REGEX_META:
            out.append("\\" + ch)
        else:
            out.append(re.escape(ch))
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _compile_cached(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    return re.compile(_convert_pattern(pattern, greedy, anchored))


def _compile_pattern(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """The compiled regex of a shell pattern, or BuildKit's 'invalid pattern' error."""
    try:
        return _compile_cached(pattern, greedy, anchored)
    except ShellError as exc:
        raise ShellError(f"invalid pattern ({pattern}) in substitution: {exc.message}") from None


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    """Remove the shortest (longest if greedy) prefix of ``value`` matching ``pattern``."""
    m = _compile_pattern(pattern, greedy, anchored=True).match(value)
    return value if m is None else value[m.end() :]


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern but keep each backslash in front of the character it
    escapes (a\\*c -> c\\*a); a lone trailing backslash just moves to the front."""
    parts: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "\\" and i + 1 < n:
            parts.append(pattern[i : i + 2])
            i += 2
        else:
            parts.append(pattern[i])
            i += 1
    return "".join(reversed(parts))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    """Remove the shortest (longest if greedy) suffix matching ``pattern``.

    As in lex.go, pattern and value are reversed so that a leftmost match does
    the work; so an invalid pattern is reported reversed, as BuildKit does.
    """
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _expand_template(template: str, value: str, start: int, end: int) -> str:
    """Go's Regexp.Expand, which ReplaceAllString applies to the replacement:
    ``$$`` is a '$'; ``$0``/``${0}`` the match; any other ``$name``/``${name}``
    names a group the pattern never has, so it is empty; a '$' not followed by
    a name stays."""
    if "$" not in template:
        return template
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        dollar = template.find("$", i)
        if dollar < 0:
            break
        out.append(template[i:dollar])
        i = dollar + 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        brace = i < n and template[i] == "{"
        j = i + 1 if brace else i
        k = j
        while k < n and (template[k].isalpha() or template[k].isdecimal() or template[k] == "_"):
            k += 1
        name = template[j:k]
        if not name or (brace and (k >= n or template[k] != "}")):
            out.append("$")  # malformed: the '$' is plain text
            continue
        i = k + 1 if brace else k
        if name == "0":  # only group 0 exists ("00" has a leading zero, so it is a name)
            out.append(value[start:end])
    out.append(template[i:])
    return "".join(out)


def _replace_all(rx: re.Pattern[str], value: str, repl: str) -> str:
    """Go's Regexp.ReplaceAllString, whose empty-match rule differs from re.sub:
    an empty match right after a previous match is not replaced."""
    out: list[str] = []
    last = 0
    search = 0
    n = len(value)
    while search <= n:
        m = rx.search(value, search)
        if m is None:
            break
        start, end = m.span()
        out.append(value[last:start])
        if end > last or start == 0:
            out.append(_expand_template(repl, value, start, end))
        last = end
        # Advance past the match, and always by at least one character.
        search = search + 1 if search + 1 > end else end
    out.append(value[last:])
    return "".join(out)
