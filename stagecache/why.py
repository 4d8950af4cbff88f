"""A bake's input manifests: read before the builds, explained and written after them.

Before the first build, :func:`Record.start` reads the manifest stored with each stage's
cache (stagecache.inputstore) and works out the current inputs (stagecache.inputs). After the
bake, :meth:`Record.finish` gives each stage row that missed a step its ``first_miss``
(stagecache.explain), then stores the current manifest beside each cache that this bake
wrote, and only those: a cache that was not written keeps the manifest of the build that
wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from stagecache import explain, inputstore
from stagecache.errors import StagecacheError, UsageError
from stagecache.inputs import Context, StageInputs, collect
from stagecache.report import mentions, source_of

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from stagecache.plan import BuildPlan, StageBuild
    from stagecache.registry import RegistryClient
    from stagecache.report import StageResult

EXPLAINED_MODES = ("local", "registry")


@dataclass
class Record:
    """The manifests of one bake: where each stage's lives, what it said, and the current inputs."""

    plan: BuildPlan
    places: dict[str, inputstore.Place] = field(default_factory=dict)
    stored: dict[str, StageInputs | None] = field(default_factory=dict)
    current: dict[str, StageInputs] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _clients: dict[str, RegistryClient] = field(default_factory=dict)

    @classmethod
    def start(cls, plan: BuildPlan) -> Record:
        """Read the stored manifests and work out the current inputs."""
        record = cls(plan)
        if plan.mode.name not in EXPLAINED_MODES:
            return record
        context = Context(plan.config.context, plan.config.dockerfile)
        for build in plan.builds:
            place = inputstore.place_of(build.cache.cache_from[0] if build.cache.cache_from else None)
            stage = plan.stage_of(build.stage)
            if place is None or stage is None:
                continue
            try:
                graph = plan.graph
                record.current[build.stage] = collect(stage, graph, context, plan.config.secret_args)
            except OSError as exc:
                record.notes.append(f"{build.stage}: its inputs could not be read, so a miss is not explained: {exc}")
                continue
            record.places[build.stage] = place
            record.stored[build.stage] = inputstore.read(place, record._client(place))
            if place.kind == "local":
                record.indexes[build.stage] = inputstore.index_digest(place)
        return record

    def _client(self, place: inputstore.Place) -> RegistryClient | None:
        if place.kind != "registry":
            return None
        host = inputstore.split_ref(place.where)[0]
        if host not in self._clients:
            from stagecache.registry import RegistryClient, docker_credentials

            self._clients[host] = RegistryClient(host, credentials=docker_credentials(host))
        return self._clients[host]

    def finish(self, rows: Sequence[StageResult]) -> list[StageResult]:
        """The rows with ``first_miss`` set where a stage missed, after storing the manifests of
        the caches this bake wrote."""
        by_stage = {r.stage: r for r in rows}
        current = {
            label: inputs.with_base(by_stage[label].base or inputs.base)
            for label, inputs in self.current.items()
            if label in by_stage
        }
        rebuilt = {r.stage for r in rows if any(not s.cached for s in r.steps)}
        explained = self.plan.mode.name in EXPLAINED_MODES
        out = []
        for row in rows:
            state = _cache_state(self.plan, row, by_stage)
            if not explained and state == "imported":
                out.append(row)  # inline, classic: the cache lives in images, with no record beside it
                continue
            miss = explain.first_miss(
                _one_platform(row),
                current.get(row.stage),
                self.stored.get(row.stage),
                state,
                rebuilt,
                self.plan.config.cache.registry_mode if self.plan.mode.name == "registry" else "",
            )
            out.append(replace(row, first_miss=miss) if miss is not None else row)
        if not self.plan.config.cache.read_only:
            for row in rows:
                if row.stage in current and self._written(row):
                    self._store(row.stage, current[row.stage])
        for client in self._clients.values():
            client.close()
        return out

    def _written(self, row: StageResult) -> bool:
        """Whether this bake wrote the stage's cache."""
        place = self.places[row.stage]
        if row.status != "built" or not row.cache_to or row.export_errors:
            return False
        if place.kind == "local":
            # A cache swapped in has a new index.json, or (when BuildKit wrote the same one) no
            # record yet: the swap replaced the whole folder.
            now = inputstore.index_digest(place)
            return now != "" and (now != self.indexes.get(row.stage, "") or not inputstore.stored(place))
        return True

    def _store(self, stage: str, inputs: StageInputs) -> None:
        place = self.places[stage]
        try:
            inputstore.write(place, inputs, self._client(place))
        except (OSError, StagecacheError) as exc:
            said = exc.message if isinstance(exc, StagecacheError) else str(exc)
            self.notes.append(f"{stage}: the record of its inputs could not be stored at {place}: {said}")


def _one_platform(row: StageResult) -> tuple:
    """The steps of the row's first platform (a build for several has each step once per platform)."""
    platforms = sorted({s.platform or "" for s in row.steps})
    if len(platforms) <= 1:
        return row.steps
    return tuple(s for s in row.steps if (s.platform or "") == platforms[0])


def _cache_state(plan: BuildPlan, row: StageResult, rows: dict[str, StageResult]) -> str:
    """What became of the stage's own cache: "imported", "missing: WHERE", "failed: WHY" or
    "off". A stage built inside another stage's build shares that build's caches."""
    if plan.mode.name == "none":
        return "off"
    build = _build_of(plan, row.stage)
    if build is None or not build.cache.cache_from:
        return "imported"
    spec = build.cache.cache_from[0]
    owner = rows.get(build.stage, row)
    state = dict(owner.cache_sources()).get(str(spec), "imported")
    where = source_of(str(spec))
    if state == "missing":
        return f"missing: {where}"
    if state == "failed":
        reasons = [e for e in owner.import_errors if mentions(e, where)] or list(owner.import_errors)
        return f"failed: {reasons[0] if reasons else 'BuildKit gave no reason'}"
    return "imported"


def _build_of(plan: BuildPlan, label: str) -> StageBuild | None:
    return next((b for b in plan.builds if label in b.reports), None)


@dataclass(frozen=True)
class Forecast:
    """What the next bake of one stage will do, by its inputs alone."""

    stage: str
    miss: explain.Miss | None
    said: str
    """"up to date", or why nothing can be said (no record, no cache)."""


def forecast(plan: BuildPlan) -> list[Forecast]:
    """Each stage's first step that will miss, and why, from the stored records and the current
    inputs (``stagecache explain``), in plan order; a stage that will miss counts as rebuilt
    for those after it."""
    if plan.mode.name not in EXPLAINED_MODES:
        raise UsageError(
            f"explain reads the record stored beside each stage's cache, which only the local and registry "
            f"cache modes keep; the cache mode is {plan.mode.name!r}. Pass --cache-mode local or registry."
        )
    record = Record.start(plan)
    rebuilt: set[str] = set()
    out = []
    for build in plan.builds:
        label = build.stage
        now, before = record.current.get(label), record.stored.get(label)
        if now is None or before is None:
            out.append(Forecast(label, None, "no record of its inputs: no cache yet, or one written without it"))
            rebuilt.add(label)
            continue
        miss = explain.predict(now, before, rebuilt)
        if miss is not None:
            rebuilt.add(label)
        out.append(Forecast(label, miss, "" if miss else "up to date: every step's inputs are as recorded"))
    for client in record._clients.values():
        client.close()
    return out


def render_forecast(forecasts: list[Forecast]) -> str:
    """One line per stage, then what was not checked."""
    width = max((len(f.stage) for f in forecasts), default=0)
    lines = [f"{f.stage:<{width}}  {f.miss.describe() if f.miss else f.said}" for f in forecasts]
    lines.append("(base images are not resolved without a build: a new digest of one shows only when baking)")
    return "\n".join(lines)
