"""What ``stagecache bench`` compares: caching strategies and scenarios.

A strategy is a cache mode (defined in :mod:`stagecache.cache`) plus a scope:
``stages`` builds and caches every stage (what stagecache does), ``final``
builds only the target with only its own cache (the usual single-build setup).
A scenario says what happens between the bake that fills the caches and the
measured bake: nothing (``warm``), a fresh CI runner (``cold``), and/or an edit
of one file (``cold-edit-source``: declared under ``[bench.edits]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Strategy:
    """One way of caching a build, as the bench runs it."""

    name: str
    mode: str
    registry_mode: str = "max"
    scope: str = "stages"
    no_cache: bool = False
    summary: str = ""
    execution: str = "per-stage"


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("none", "none", scope="final", no_cache=True, summary="no cache at all: the full-rebuild baseline"),
        Strategy(
            "classic-final",
            "classic",
            scope="final",
            summary="legacy builder, only the final image pushed and used as --cache-from",
        ),
        Strategy("classic-stages", "classic", summary="legacy builder, every stage image pushed, pulled, --cache-from"),
        Strategy("inline-final", "inline", scope="final", summary="BuildKit inline cache in the final image only"),
        Strategy("inline-stages", "inline", summary="BuildKit inline cache in every stage image"),
        Strategy("registry-min", "registry", "min", summary="registry cache per stage, mode=min"),
        Strategy("registry-max", "registry", "max", summary="registry cache per stage, mode=max"),
        Strategy(
            "registry-min-single", "registry", "min", scope="final", summary="one build of the target, mode=min cache"
        ),
        Strategy(
            "registry-max-single", "registry", "max", scope="final", summary="one build of the target, mode=max cache"
        ),
        Strategy("local", "local", summary="local cache directory per stage (what CI cache actions save)"),
    )
}

BAKE_SUFFIX = "+bake"


def get(name: str) -> Strategy:
    """A strategy by name; ``NAME+bake`` is NAME run as one ``buildx bake`` session.
    Raises KeyError for unknown names and for classic strategies with +bake."""
    base = name.removesuffix(BAKE_SUFFIX)
    strategy = STRATEGIES[base]
    if name == base:
        return strategy
    if strategy.mode == "classic":
        raise KeyError(name)
    return Strategy(
        name,
        strategy.mode,
        strategy.registry_mode,
        strategy.scope,
        strategy.no_cache,
        strategy.summary + ", in one buildx bake session",
        "bake",
    )


BASE_SCENARIOS = ("warm", "cold")
DEFAULT_EDIT_SCENARIOS = ("cold-edit-source", "cold-edit-late")
EDIT_SCENARIO_RE = re.compile(r"^(?P<base>warm|cold)-edit-[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Scenario:
    """What happens before the measured bake."""

    name: str
    fresh_runner: bool
    edit: bool

    @classmethod
    def parse(cls, name: str) -> Scenario:
        """``warm``, ``cold`` or ``(warm|cold)-edit-NAME``; raises ValueError otherwise."""
        if name in BASE_SCENARIOS:
            return cls(name, fresh_runner=name == "cold", edit=False)
        m = EDIT_SCENARIO_RE.match(name)
        if not m:
            raise ValueError(name)
        return cls(name, fresh_runner=m.group("base") == "cold", edit=True)


def scenario_problem(name: str) -> str | None:
    """Why ``name`` is not a scenario name, or None."""
    try:
        Scenario.parse(name)
    except ValueError:
        return (
            f"'{name}' is not a scenario; scenarios are warm, cold, or warm-edit-NAME / cold-edit-NAME "
            "with an edit declared under [bench.edits]"
        )
    return None
