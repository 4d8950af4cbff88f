"""Why a stage missed: its first missed step, and the input that changed.

Given what BuildKit said of a stage (its row: which steps hit, which caches it imported), the
input manifest stored with the cache it imported (what the steps were built from then) and
the current one, :func:`first_miss` names the cause of the first missed step. Later misses
of the stage follow from it (a step after a miss runs too), so only the first is reported.

The causes, in the order they are tried:

- ``no-cache``: the stage's own cache was not there or could not be imported;
- ``upstream``: the stage it is built FROM was rebuilt in this bake, or changed since;
- ``instruction``: the step's text changed (or the stage has a new step there);
- ``build-arg`` / ``env``: a variable the step sees changed (a secret one is named, not shown);
- ``files``: files the step copies from the build context changed;
- ``upstream``: a stage the step copies from or mounts was rebuilt in this bake, or changed
  since the record was written;
- ``base-image``: the image the stage starts from resolved to another digest (checked after
  the step's own inputs: an image's digest can change with no change to its content);
- ``not-in-cache``: every input is as recorded, but the imported cache did not hold the step;
- ``unrecorded``: a cache was imported, but no manifest of its inputs was stored with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Collection

    from stagecache.inputs import StageInputs, StepInputs
    from stagecache.report import StepResult

SHOWN_PATHS = 5
_SHORT = 60


@dataclass(frozen=True)
class Miss:
    """The first missed step of a stage, and why it missed."""

    step: int
    line: int | None
    instruction: str
    cause: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        """As in the report's ``first_miss``."""
        return {"step": self.step, "line": self.line, "cause": self.cause, "detail": self.detail}

    def describe(self) -> str:
        """``step 3 (line 21, COPY src/ ./): files changed: src/main.c``."""
        where = f"line {self.line}, " if self.line is not None else ""
        return f"step {self.step} ({where}{short(self.instruction)}): {self.detail}"


def short(text: str, width: int = _SHORT) -> str:
    """One line of an instruction, cut to ``width`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def first_miss(
    steps: tuple[StepResult, ...],
    now: StageInputs | None,
    before: StageInputs | None,
    cache: str,
    rebuilt: Collection[str] = (),
    registry_mode: str = "",
) -> Miss | None:
    """The first missed step of a stage and its cause, or None when every step hit.

    ``steps``: the stage's steps as BuildKit reported them (one platform's); ``now`` and
    ``before``: its current inputs and those stored with its cache; ``cache``: what became of
    its own cache in this bake ("imported", "missing: WHY", "failed: WHY", or "off");
    ``rebuilt``: the stages that missed a step in this bake; ``registry_mode``: "min" or
    "max" for a registry cache."""
    missed = next((s for s in sorted(steps, key=lambda s: s.number) if not s.cached), None)
    if missed is None:
        return None

    def miss(cause: str, detail: str) -> Miss:
        return Miss(missed.number, missed.line, missed.instruction, cause, detail)

    state, _, why = cache.partition(": ")
    if state == "off":
        return miss("no-cache", "caching is off (cache mode none)")
    if state == "missing":
        return miss("no-cache", f"no cache of this stage was found{': ' + why if why else ''} (its first build?)")
    if state == "failed":
        return miss("no-cache", f"its cache could not be imported: {why}")
    first = min((s.number for s in now.steps), default=missed.number) if now is not None else missed.number
    base_stage = now.base.removeprefix("stage ") if now is not None and now.base.startswith("stage ") else ""
    if missed.number == first and base_stage in rebuilt:
        return miss("upstream", f"its base stage '{base_stage}' was rebuilt")
    if before is None or now is None:
        return miss(
            "unrecorded", "its cache was imported, but no record of the inputs it was built from was stored with it"
        )
    was, cur = before.step(missed.number), now.step(missed.number)
    if cur is None:
        return miss("unrecorded", "the step is not in stagecache's reading of the Dockerfile")
    if missed.number == first and base_stage and _moved(base_stage, now, before):
        return miss("upstream", f"its base stage '{base_stage}' changed since its cache was written")
    found = _change(was, cur, now, before, rebuilt, "was rebuilt")
    if found is not None:
        return miss(*found)
    # A base image without its digest (an engine that did not report it) is not compared.
    if missed.number == first and "@" in before.base and "@" in now.base and before.base != now.base:
        return miss("base-image", base_change(before.base, now.base))
    if _rewritten(now, before):
        return miss("instruction", REWRITTEN)
    held = (
        "the imported cache did not hold this step, although what stagecache records of its inputs "
        "(instruction, variables, files, upstream stages, base image) is unchanged"
    )
    if registry_mode == "min":
        held += "; mode=min exports only the layers of the stage's image"
    return miss("not-in-cache", held)


def predict(now: StageInputs, before: StageInputs, rebuilt: Collection[str] = ()) -> Miss | None:
    """The first step of a stage that will miss at the next build, by its inputs alone (no
    build: the base image's digest is not known), or None when every step's inputs are as
    stored with its cache. ``rebuilt``: the stages that will be rebuilt before it."""
    base_stage = now.base.removeprefix("stage ") if now.base.startswith("stage ") else ""
    for cur in sorted(now.steps, key=lambda s: s.number):
        first = cur is now.steps[0]
        if first and base_stage and _moved(base_stage, now, before) and base_stage not in rebuilt:
            return Miss(
                cur.number,
                cur.line,
                cur.instruction,
                "upstream",
                f"its base stage '{base_stage}' changed since this stage's cache was written",
            )
        if first and base_stage in rebuilt:
            return Miss(
                cur.number, cur.line, cur.instruction, "upstream", f"its base stage '{base_stage}' will be rebuilt"
            )
        found = _change(before.step(cur.number), cur, now, before, rebuilt, "will be rebuilt")
        if found is not None:
            return Miss(cur.number, cur.line, cur.instruction, *found)
    if now.steps and _rewritten(now, before):
        cur = min(now.steps, key=lambda s: s.number)
        return Miss(cur.number, cur.line, cur.instruction, "instruction", REWRITTEN)
    return None


REWRITTEN = (
    "a line of the stage that makes no step (USER, SHELL, ...), or the bake's platform or network, changed "
    "since its cache was written"
)


def _rewritten(now: StageInputs, before: StageInputs) -> bool:
    """Whether the stage's key (StageInputs.key) changed, where both records have one, by a
    line that makes no step: a key changed by a step's own instruction or variables (what
    the key holds of it: a build arg its RUN uses, for instance) says nothing of the steps
    before it, which then missed for another reason."""
    if not (now.key and before.key) or now.key == before.key or len(now.steps) != len(before.steps):
        return False
    for cur in now.steps:
        was = before.step(cur.number)
        if was is None or was.instruction != cur.instruction or _variables(was, cur):
            return False
    return True


def _change(
    was: StepInputs | None,
    cur: StepInputs,
    now: StageInputs,
    before: StageInputs,
    rebuilt: Collection[str],
    rebuilt_said: str,
) -> tuple[str, str] | None:
    """The first difference between a step's stored inputs (``was``) and its current ones, as
    (cause, detail): a new step, its instruction, its variables, its files, an upstream stage
    it copies from that is rebuilt; None when there is none."""
    if was is None:
        return "instruction", f"a new step (the stage had {len(before.steps)} steps)"
    if was.instruction != cur.instruction:
        if len(before.steps) != len(now.steps):
            return "instruction", (
                f"the stage's steps changed here (it had {len(before.steps)}, now {len(now.steps)}): "
                f"step {cur.number} was '{short(was.instruction)}'"
            )
        return "instruction", f"the instruction changed: was '{short(was.instruction)}'"
    changed = _variables(was, cur)
    if changed:
        args = {*now.args, *before.args, *now.secret, *before.secret}  # a secret one is a build arg too
        kind = "build-arg" if any(n in args for n, _ in changed) else "env"
        shown = [
            f"{n} (secret)" if n in now.secret or n in before.secret else f"{n}: {_value(old)} -> {_value(new)}"
            for n, (old, new) in changed
        ]
        what = "build arg" if kind == "build-arg" else "variable"
        return kind, f"{what}{'s' if len(changed) > 1 else ''} changed: {', '.join(shown)}"
    files = _files(was, cur)
    if files:
        return "files", files
    upstream = [u for u in cur.uses if u in rebuilt]
    if upstream:
        return "upstream", f"upstream stage '{upstream[0]}' {rebuilt_said}"
    moved = [u for u in cur.uses if _moved(u, now, before)]
    if moved:
        return "upstream", f"upstream stage '{moved[0]}' changed since this stage's cache was written"
    return None


def _moved(stage: str, now: StageInputs, before: StageInputs) -> bool:
    """Whether the upstream stage ``stage`` is not what it was when the record was written (its
    fingerprint then and now, where both are known)."""
    if not before.key:  # written before upstream fingerprints were chained: not comparable
        return False
    old, new = dict(before.upstream).get(stage), dict(now.upstream).get(stage)
    return old is not None and new is not None and old != new


def base_change(old: str, new: str) -> str:
    """``base image gcc:13 changed: sha256:aaaa... -> sha256:bbbb...``."""
    old_name, _, old_digest = old.partition("@")
    new_name, _, new_digest = new.partition("@")
    if old_name != new_name:
        return f"the base image changed: was {old}, now {new}"
    return f"base image {new_name} changed: {old_digest[:19]} -> {new_digest[:19]}"


def _variables(was: StepInputs, cur: StepInputs) -> list[tuple[str, tuple[str | None, str | None]]]:
    old, new = dict(was.variables), dict(cur.variables)
    return [(n, (old.get(n), new.get(n))) for n in sorted(old.keys() | new.keys()) if old.get(n) != new.get(n)]


def _value(value: str | None) -> str:
    return "(unset)" if value is None else repr(short(value, 40))


def _files(was: StepInputs, cur: StepInputs) -> str:
    """``files changed: a, b; added: c (and 4 more)``, or "" when the files are the same."""
    old, new = dict(was.files), dict(cur.files)
    groups = (
        ("files changed", sorted(p for p in old.keys() & new.keys() if old[p] != new[p])),
        ("added", sorted(new.keys() - old.keys())),
        ("removed", sorted(old.keys() - new.keys())),
    )
    total = sum(len(paths) for _, paths in groups)
    if not total:
        return ""
    parts, room = [], SHOWN_PATHS
    for label, paths in groups:
        if paths and room > 0:
            parts.append(f"{label}: {', '.join(paths[:room])}")
            room -= len(paths[:room])
    if not parts[0].startswith("files changed"):
        parts[0] = "files " + parts[0]
    more = total - SHOWN_PATHS
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
