"""A bake's input records: read before the builds, explained and written after them.

Before the first build, :meth:`Record.start` reads the record stored beside each stage's
cache (stagecache.inputstore), notes which cache it describes, and works out the current
inputs (stagecache.inputs). After the bake, :meth:`Record.finish` gives each stage row that
missed a step its ``first_miss`` (stagecache.explain), then stores the current record beside
each cache that this bake wrote (the cache's digest changed), and only those: a cache that
was not written keeps the record of the build that wrote it.

A stage whose own cache is missing but which imported another one (a new branch, with the
fallback branch's cache) is explained against that cache's record. Nothing here fails a bake:
a record that cannot be read is as good as none, one that cannot be stored is a warning.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from stagecache import explain, inputstore
from stagecache.errors import StagecacheError, UsageError
from stagecache.inputs import Context, StageInputs, collect
from stagecache.progress import Scrubber
from stagecache.report import mentions, source_of

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from stagecache.plan import BuildPlan, StageBuild
    from stagecache.registry import RegistryClient
    from stagecache.report import StageResult

EXPLAINED_MODES = ("inline", "local", "registry")


@dataclass
class Record:
    """The records of one bake: where each stage's lives, what it said, and the current inputs."""

    plan: BuildPlan
    env: Mapping[str, str] | None = None
    places: dict[str, inputstore.Place] = field(default_factory=dict)
    stored: dict[str, StageInputs | None] = field(default_factory=dict)
    fallback: dict[str, tuple[str, str, StageInputs]] = field(default_factory=dict)
    """Per stage without a record of its own: the fallback branch's cache of the stage that has
    one (its spec, its ref or folder, the record)."""
    current: dict[str, StageInputs] = field(default_factory=dict)
    before: dict[str, str] = field(default_factory=dict)
    """The digest of each stage's cache before the bake ("" when there was none)."""
    images: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per stage whose image is pushed and whose record names it: the digest each of its tags
    pointed to before the bake ("" for a tag that pointed nowhere)."""
    notes: list[str] = field(default_factory=list)
    _clients: dict[str, RegistryClient] = field(default_factory=dict)
    _absent: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def start(cls, plan: BuildPlan, env: Mapping[str, str] | None = None) -> Record:
        """Read the stored records and work out the current inputs."""
        record = cls(plan, env)
        if plan.mode.name not in EXPLAINED_MODES:
            return record
        context = Context(plan.config.context, plan.config.dockerfile)
        settings = json.dumps({"platforms": list(plan.config.platforms), "network": plan.config.network})
        for build in plan.builds:
            places = [inputstore.place_of(spec) for spec in build.cache.cache_from]
            stage = plan.stage_of(build.stage)
            own = places[0] if places else None
            if own is None or stage is None:
                continue
            try:
                record.current[build.stage] = collect(
                    stage, plan.graph, context, plan.secret_args, _secret_values(plan), settings
                )
            except OSError as exc:
                record.notes.append(f"{build.stage}: its inputs could not be read, so a miss is not explained: {exc}")
                continue
            record.places[build.stage] = own
            record.before[build.stage] = inputstore.identity(own, record._client(own))
            record.stored[build.stage] = record._read(own, build.stage, record.before[build.stage])
            found = record.stored[build.stage]
            if build.push and build.tags and found is not None and found.image:
                record.images[build.stage] = tuple(record._image(tag) for tag in build.tags)
            if record.stored[build.stage] is None and plan.fallback_branch is not None:
                for spec, other in zip(build.cache.cache_from[1:], places[1:], strict=False):
                    if other is not None and other.kind == own.kind and build.stage in other.cache:
                        found = record._read(other, build.stage, inputstore.identity(other, record._client(other)))
                        if found is not None:
                            record.fallback[build.stage] = (str(spec), other.cache, found)
                            break
        return record

    def has_no_cache(self, stage: str) -> bool:
        """Whether the stage's registry cache ref holds nothing: no digest was read for it when
        the bake started, and the registry answers that it does not exist (HTTP 404), rather
        than that it cannot be read. The registry is asked once per stage and bake."""
        place = self.places.get(stage)
        if place is None or place.kind != "registry" or self.before.get(stage, "x"):
            return False
        if stage not in self._absent:
            _, repo, tag = inputstore.split_ref(place.cache)
            try:
                self._absent[stage] = self.client(place.host).absent(repo, tag)
            except (OSError, ValueError, StagecacheError):
                self._absent[stage] = False
        return self._absent[stage]

    def _read(self, place: inputstore.Place, stage: str, cache: str) -> StageInputs | None:
        """The record at ``place``, if it describes the cache there now (``cache``)."""
        found = inputstore.read(place, stage, self._client(place))
        return found if found is not None and cache and found.cache == cache else None

    def _client(self, place: inputstore.Place) -> RegistryClient | None:
        return self.client(place.host) if place.kind == "registry" else None

    def client(self, host: str) -> RegistryClient:
        """The bake's connection to the registry ``host`` (with the credentials docker has for
        it), closed by :meth:`close`."""
        if host not in self._clients:
            from stagecache.registry import RegistryClient, docker_credentials

            try:
                credentials = docker_credentials(host, self.env)
            except StagecacheError:
                credentials = None  # the builds will say what is wrong with them
            self._clients[host] = RegistryClient(host, credentials=credentials)
        return self._clients[host]

    def _image(self, tag: str) -> str:
        """The digest the image tag ``tag`` (``host/repo:tag``) points to in its registry ("" when
        none, or it cannot be read)."""
        name, _, version = tag.rpartition(":")
        if not name or "/" in version or "@" in tag:
            return ""
        host, repo, version = inputstore.split_ref(tag)
        try:
            return self.client(host).digest(repo, version)
        except (OSError, ValueError, StagecacheError):
            return ""

    def now(self, rows: Sequence[StageResult]) -> dict[str, StageInputs]:
        """The current inputs of each stage with a row, with the base image BuildKit resolved
        for it and the fingerprints of the stages it uses."""
        by_stage = {r.stage: r for r in rows}
        return _linked(
            {
                label: inputs.with_base(by_stage[label].base or inputs.base)
                for label, inputs in self.current.items()
                if label in by_stage
            }
        )

    def current_cache(self, build: StageBuild, now: Mapping[str, StageInputs]) -> bool:
        """Whether the stage's own cache is known to hold the result of its current inputs: the
        record beside it (read only when it describes that cache) has the same stage key,
        fingerprint (instructions, variables, files), base image and upstream stages (their
        fingerprints and base images, through their own upstream stages).
        A stage that takes files from an image (``COPY --from=IMAGE``, a mount of one) is never
        known to be: the record does not keep that image's digest. Neither is one that builds
        unnamed stages inside its build (their inputs are not recorded)."""
        return self._describes(self.stored.get(build.stage), build, now)

    def fallback_current(
        self, build: StageBuild, rows: Mapping[str, StageResult], now: Mapping[str, StageInputs]
    ) -> tuple[str, StageInputs] | None:
        """For a stage without a cache of its own on this branch: the fallback branch's cache
        ref and record, when that cache was imported by the stage's build and its record has
        the current inputs (as :meth:`current_cache` asks of the stage's own)."""
        spec, ref, found = self.fallback.get(build.stage, ("", "", None))
        row = rows.get(build.stage)
        if found is None or row is None or self.before.get(build.stage) or not _imported(spec, row, rows, self.plan):
            return None
        return (ref, found) if self._describes(found, build, now) else None

    def provable(self, build: StageBuild) -> bool:
        """Whether a record can prove the stage's cache current at all: not when its build
        builds unnamed stages inside it (their inputs are not recorded), nor when the stage
        takes files from an image (the record does not keep that image's digest)."""
        inputs = self.current.get(build.stage)
        stages = {s.label for s in self.plan.graph.stages}
        return inputs is not None and not build.folded and all(u in stages for u in inputs.uses())

    def _describes(self, before: StageInputs | None, build: StageBuild, now: Mapping[str, StageInputs]) -> bool:
        inputs = now.get(build.stage)
        if before is None or inputs is None or not before.key or not self.provable(build):
            return False
        return (inputs.key, inputs.fingerprint(), inputs.base, dict(inputs.upstream)) == (
            before.key,
            before.fingerprint(),
            before.base,
            dict(before.upstream),
        )

    def current_image(self, build: StageBuild) -> bool:
        """Whether every tag of the stage's image pointed, before the bake, at the image its
        record names (pushed by a bake whose record is still beside the stage's cache)."""
        before = self.stored.get(build.stage)
        digests = self.images.get(build.stage, ())
        return before is not None and bool(before.image) and bool(digests) and set(digests) == {before.image}

    def finish(self, rows: Sequence[StageResult], complete: bool = True) -> list[StageResult]:
        """The rows with ``first_miss`` set where a stage missed, after storing the records of
        the caches this bake wrote (``complete``: the bake succeeded; after a failure, only the
        caches it wrote get a record: the others are left exactly as they were)."""
        by_stage = {r.stage: r for r in rows}
        current = self.now(rows)
        rebuilt = {r.stage for r in rows if any(not s.cached for s in r.steps)}
        scrub = Scrubber(self.plan.secret_values)
        out = []
        for row in rows:
            miss = self._explain(row, by_stage, current, rebuilt)
            if miss is not None:
                miss = replace(miss, detail=scrub.scrub(miss.detail)[0])
            out.append(replace(row, first_miss=miss) if miss is not None else row)
        if not self.plan.config.cache.read_only:
            for label, inputs in current.items():
                self._store(label, inputs, by_stage[label], complete, current)
        self.close()
        return out

    def forecast(self) -> list[Forecast]:
        """:func:`forecast`, from the records read by :meth:`start` (on a new branch, a stage
        without a record of its own is compared with the fallback branch's)."""
        # Base images are not resolved without a build: each is taken to be the one recorded.
        current = _linked(
            {
                label: inputs.with_base(inputs.base or (stored.base if stored is not None else ""))
                for label, inputs in self.current.items()
                for stored in [self._before(label)]
            }
        )
        rebuilt: set[str] = set()
        out = []
        for build in self.plan.builds:
            label = build.stage
            now, before = current.get(label), self._before(label)
            if now is None or before is None:
                out.append(Forecast(label, None, NO_RECORD))
                rebuilt.add(label)
                continue
            miss = explain.predict(now, before, rebuilt)
            if miss is not None:
                rebuilt.add(label)
            out.append(Forecast(label, miss, "" if miss else UP_TO_DATE))
        return out

    def _before(self, label: str) -> StageInputs | None:
        """The stage's record: its own, else, when it has no cache of its own (a new branch),
        the fallback branch's."""
        own = self.stored.get(label)
        if own is not None or self.before.get(label):
            return own
        return self.fallback.get(label, ("", "", None))[2]

    def close(self) -> None:
        """Close the registry connections the records were read and written through."""
        for client in self._clients.values():
            client.close()

    def _explain(
        self, row: StageResult, rows: dict[str, StageResult], current: dict[str, StageInputs], rebuilt: set[str]
    ) -> explain.Miss | None:
        state = _cache_state(self.plan, row, rows)
        explained = self.plan.mode.name in EXPLAINED_MODES
        if not explained and state == "imported":
            return None  # inline, classic: the cache lives in images, with no record beside it
        before, via = self.stored.get(row.stage), ""
        spec, ref, alt = self.fallback.get(row.stage, ("", "", None))
        if state.startswith("missing") and alt is not None and _imported(spec, row, rows, self.plan):
            before = alt
            state, via = "imported", f" (this branch has no cache of the stage yet: compared with {ref})"
        # A manifest under several stages' refs: the first build's mode=max cache, copied
        # ([cache].first_export = "shared"), whatever registry_mode says.
        cache = self.before.get(row.stage, "")
        shared = self.plan.mode.name == "registry" and bool(cache) and sum(d == cache for d in self.before.values()) > 1
        registry_mode = self.plan.config.cache.registry_mode if self.plan.mode.name == "registry" else ""
        miss = explain.first_miss(
            _one_platform(row, self.plan.config.platforms),
            current.get(row.stage),
            before,
            state,
            rebuilt,
            "max" if shared else registry_mode,
        )
        if miss is not None and shared and miss.cause == "not-in-cache":
            via += (
                "; the stage's cache was the first build's, shared with other stages (first_export = \"shared\"),"
                " which can lose such a step: the stage exports its own now"
            )
        return replace(miss, detail=miss.detail + via) if miss is not None and via else miss

    def _store(
        self, label: str, inputs: StageInputs, row: StageResult, complete: bool, current: Mapping[str, StageInputs]
    ) -> None:
        """Store the record of the stage's cache as it is after the bake, when
        - this bake wrote the cache (its digest changed, after an export that BuildKit did not
          report as failed: a push that failed afterwards does not undo it), or
        - after a successful bake: a local cache was swapped in with the same index.json (the
          record went with the old folder), or every step hit, so the cache serves the current
          inputs (the record is brought up to date: a stage it copies from may have changed
          without changing this stage).
        """
        if row.export_errors or row.status != "built" and not row.cache_to:
            return
        if self.plan.mode.name == "inline" and not (row.pushed or row.unchanged):
            return  # the cache is the image in the registry, which this bake did not push
        place = self.places[label]
        client = self._client(place)
        now = inputstore.identity(place, client)
        if not now:
            return
        wrote = bool(row.cache_to or row.copied_from) and (row.status == "built" or now != self.before.get(label, ""))
        swapped = place.kind == "local" and not inputstore.stored(place)
        build = _build_of(self.plan, label)
        # Every step hit, and the record beside the cache had the current inputs: the record is
        # brought up to date (the image its tags point at). Hits alone prove nothing of which
        # cache served them.
        hit = (
            row.status == "built"
            and all(s.cached for s in row.steps)
            and build is not None
            and self._describes(self.stored.get(label), build, current)
        )
        fresh = replace(inputs, cache=now, image=self._image_of(label, row))
        if not (wrote or (complete and (swapped or hit))) or fresh == self.stored.get(label):
            return
        try:
            inputstore.write(place, fresh, client)
        except (OSError, StagecacheError) as exc:
            said = exc.message if isinstance(exc, StagecacheError) else str(exc)
            self.notes.append(f"{label}: the record of its inputs could not be stored at {place}: {said}")

    def _image_of(self, label: str, row: StageResult) -> str:
        """The digest of the stage's image for its record: where this bake pushed it, or where
        its tags already pointed (not pushed again: ``row.unchanged``); else none."""
        if row.pushed:
            return self._image(row.pushed[0])
        before = self.stored.get(label)
        return before.image if row.unchanged and before is not None else ""


def _secret_values(plan: BuildPlan) -> tuple[str, ...]:
    """The values of the secret build args, however short (a variable that holds one is hidden),
    and the passwords of credential URLs."""
    secret = set(plan.secret_args)
    return (*(v for name, v in plan.config.build_args if name in secret and v), *plan.secret_values)


def _linked(current: dict[str, StageInputs]) -> dict[str, StageInputs]:
    """Each stage's ``current`` inputs (in dependency order) with the fingerprints of the stages
    it uses as they are now, each through its own upstream stages (StageInputs.chained)."""
    out: dict[str, StageInputs] = {}
    for label, inputs in current.items():
        out[label] = replace(inputs, upstream=tuple((u, out[u].chained()) for u in inputs.uses() if u in out))
    return out


def _one_platform(row: StageResult, platforms: Sequence[str]) -> tuple:
    """The steps of one platform (a build for several has each step once per platform): the
    first configured one, whose graph the current inputs were read from."""
    seen = {s.platform or "" for s in row.steps}
    if len(seen) <= 1:
        return row.steps
    first = next((p for p in platforms if p in seen), sorted(seen)[0])
    return tuple(s for s in row.steps if (s.platform or "") == first)


def _imported(spec: str, row: StageResult, rows: Mapping[str, StageResult], plan: BuildPlan) -> bool:
    """Whether the cache ``spec`` of the stage's build was imported."""
    build = _build_of(plan, row.stage)
    owner = rows.get(build.stage, row) if build is not None else row
    return dict(owner.cache_sources()).get(spec) == "imported"


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


NO_RECORD = "no record of its inputs beside its cache: no cache yet, or one written without it"
UP_TO_DATE = "up to date: every step's inputs are as recorded"


@dataclass(frozen=True)
class Forecast:
    """What the next bake of one stage will do, by its inputs alone."""

    stage: str
    miss: explain.Miss | None
    said: str
    """"up to date", or why nothing can be said (no record, no cache)."""

    @property
    def rebuilt(self) -> bool:
        """Whether the stage is expected to miss a step (or cannot be said not to)."""
        return self.said != UP_TO_DATE


def forecast(plan: BuildPlan, env: Mapping[str, str] | None = None) -> list[Forecast]:
    """Each stage's first step that will miss, and why, from the stored records and the current
    inputs (``stagecache explain``), in plan order; a stage that will miss counts as rebuilt
    for those after it."""
    if plan.mode.name not in EXPLAINED_MODES:
        raise UsageError(
            f"explain reads the record stored beside each stage's cache, which only the inline, local and "
            f"registry cache modes keep; the cache mode is {plan.mode.name!r}. Pass --cache-mode local, registry "
            "or inline."
        )
    record = Record.start(plan, env)
    out = record.forecast()
    record.close()
    return out


def render_forecast(forecasts: list[Forecast]) -> str:
    """One line per stage, then what was not checked."""
    width = max((len(f.stage) for f in forecasts), default=0)
    lines = [f"{f.stage:<{width}}  {f.miss.describe() if f.miss else f.said}" for f in forecasts]
    lines.append("(base images are not resolved without a build: a new digest of one shows only when baking)")
    return "\n".join(lines)
