"""Which paths a build context's ``.dockerignore`` excludes, by Docker's own rules.

Docker reads the file with moby/patternmatcher's ``ignorefile.ReadAll`` and matches with
``PatternMatcher.MatchesOrParentMatches``; this module follows both:

- a line is trimmed; ``#`` starts a comment line; ``!`` makes an exception;
- the pattern is cleaned like Go's ``filepath.Clean`` and a leading ``/`` is dropped;
- ``*`` matches any run of characters *except* ``/``, ``?`` one character except ``/``,
  ``[...]`` a character class, ``\\`` escapes the next character, and ``**`` any number of
  directories, including none (``**/x``, ``a/**/b``, a trailing ``**``);
- a path is excluded when the last pattern that matches it, or one of its parent
  directories, is not an exception.

So ``*dir`` excludes ``cachedir`` at the top of the context but not ``build/cachedir``,
where ``fnmatch`` (whose ``*`` crosses ``/``) would say it does.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

_REGEX_ONLY = frozenset(".+()|{}$")
"""Characters special to regular expressions but not to Docker's patterns (escaped)."""


@dataclass(frozen=True)
class _Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str] | None
    """None for patternmatcher's suffix match: ``**`` then only literal characters."""

    def match(self, path: str) -> bool:
        if self.regex is not None:
            return bool(self.regex.match(path))
        suffix = self.text[2:]  # "**/foo" matches ".../foo" and "foo"; "**foo" anything ending "foo"
        return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])


def _clean(pattern: str) -> str:
    """Go's filepath.Clean for slash paths ('' -> '.')."""
    cleaned = posixpath.normpath(pattern) if pattern else "."
    # normpath keeps a leading '//' (POSIX); Go's Clean folds it.
    return re.sub(r"^/+", "/", cleaned)


def _compile(pattern: str) -> re.Pattern[str] | None:
    """patternmatcher's Pattern.compile: a regular expression, or None for its suffix match
    (a leading ``**`` followed by literal characters only, compared as a plain suffix). Its
    exact and prefix matches are written here as the equivalent expressions."""
    out = ["^"]
    suffix = False
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        start = i
        if ch == "*" and i + 1 < n and pattern[i + 1] == "*":
            i += 2
            if i < n and pattern[i] == "/":
                i += 1
            out.append(".*" if i >= n else "(?:.*/)?")
            suffix = start == 0 and i < n
            continue
        suffix = False if ch in "*?[]" or (ch == "\\" and i + 1 < n) else suffix
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i + 1 < n:
                i += 1
                out.append(re.escape(pattern[i]))
            else:
                out.append(re.escape("\\"))
        elif ch in _REGEX_ONLY:
            out.append("\\" + ch)
        else:
            out.append(ch)  # as patternmatcher does: '[', ']', '^', '-' keep their class meaning
        i += 1
    if suffix:
        return None
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


def parse(text: str) -> list[_Pattern]:
    """The patterns of a ``.dockerignore`` file, in order."""
    patterns: list[_Pattern] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
            if not line:
                continue
        line = _clean(line)
        if len(line) > 1 and line.startswith("/"):
            line = line[1:]
        try:
            regex = _compile(line)
        except re.error:
            continue  # Docker refuses the whole build over a bad pattern; nothing matches here
        patterns.append(_Pattern(line, exclusion, regex))
    return patterns


def ignore_file(context: Path, dockerfile: Path | None = None) -> Path:
    """The ignore file a build reads: ``<Dockerfile>.dockerignore`` next to the Dockerfile
    when it exists (one per Dockerfile; it takes precedence), else ``.dockerignore`` at the
    root of the context."""
    if dockerfile is not None:
        own = dockerfile.with_name(dockerfile.name + ".dockerignore")
        if own.is_file():
            return own
    return context / ".dockerignore"


def excluded(context: Path, path: Path, dockerfile: Path | None = None) -> bool:
    """Whether ``path`` (inside ``context``) is left out of the build context by the ignore
    file the build reads (:func:`ignore_file`)."""
    ignore = ignore_file(context, dockerfile)
    try:
        text = ignore.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    rel = path.relative_to(context).as_posix()
    return matches(parse(text), rel)


def matches(patterns: list[_Pattern], rel: str) -> bool:
    """patternmatcher.MatchesOrParentMatches for a slash path relative to the context."""
    rel = _clean(rel)
    if rel == ".":
        return False  # Docker never excludes the context itself
    parents = rel.split("/")[:-1]
    matched = False
    for p in patterns:
        if p.exclusion != matched:
            continue  # an inclusion once matched, or an exception before any match, changes nothing
        hit = p.match(rel) or any(p.match("/".join(parents[: i + 1])) for i in range(len(parents)))
        if hit:
            matched = not p.exclusion
    return matched
