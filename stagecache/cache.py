"""Cache backends: every cache mode is defined here, and only here.

A mode answers one question: for a stage and the stages upstream of it, what
does its build import (``--cache-from``), export (``--cache-to``), pull first
and require? Adding a mode means adding one class to ``MODES`` below (and its
tests).

:class:`CacheSpec` is the typed form of buildx's ``type=...,k=v`` cache option:
it parses from that syntax, prints back to it, and refuses values that would
change its meaning (a ``,`` in a ref would let ``x,type=local,dest=/evil``
switch the backend, since buildx lets a later key win).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stagecache import refs
from stagecache.errors import UsageError


@dataclass(frozen=True)
class CacheSpec:
    """One buildx cache option: ``type`` plus ordered ``attrs``."""

    type: str
    attrs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for key, value in (("type", self.type), *self.attrs):
            problem = refs.check_option_value(value) or refs.check_option_value(key)
            if problem or not value:
                raise UsageError(f"cache option {key}={value!r} is not allowed: {problem or 'it is empty'}.")
        keys = [k for k, _ in self.attrs]
        if len(keys) != len(set(keys)) or "type" in keys:
            raise UsageError(f"cache option 'type={self.type},...' repeats a key: {', '.join(keys)}.")

    @classmethod
    def parse(cls, text: str) -> CacheSpec:
        """Parse ``type=registry,ref=x,mode=max``. A bare value is a registry ref,
        as in buildx (``--cache-from user/app:cache``)."""
        if "=" not in text:
            return cls("registry", (("ref", text),))
        fields: list[tuple[str, str]] = []
        for part in text.split(","):
            key, eq, value = part.partition("=")
            if not eq:
                raise UsageError(f"cache option {text!r}: {part!r} is not key=value.")
            fields.append((key.strip().lower(), value.strip()))
        types = [v for k, v in fields if k == "type"]
        if len(types) != 1:
            raise UsageError(f"cache option {text!r} must have exactly one type=...")
        return cls(types[0], tuple((k, v) for k, v in fields if k != "type"))

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of attribute ``key``."""
        return dict(self.attrs).get(key, default)

    def __str__(self) -> str:
        return ",".join([f"type={self.type}", *(f"{k}={v}" for k, v in self.attrs)])


def dedupe(specs: Sequence[CacheSpec]) -> tuple[CacheSpec, ...]:
    """Drop repeated specs, keeping the first, as buildx's bake does."""
    seen: list[CacheSpec] = []
    for spec in specs:
        if spec not in seen:
            seen.append(spec)
    return tuple(seen)


@dataclass(frozen=True)
class Naming:
    """Where each stage's image and cache live, from the configured templates."""

    image: str
    tag_template: str
    ref_template: str
    local_dir: Path
    branch: str = "main"

    def _render(self, template: str, stage: str) -> str:
        # The branch gets the room the rest of the tag leaves: a tag has at most 128 characters.
        tag_template = template.rsplit("/", 1)[-1].partition(":")[2]
        fixed = tag_template.format(image=self.image, stage=stage, branch="")
        room = 128 - len(fixed) if "{branch}" in tag_template else 128
        branch = refs.sanitize_tag(self.branch, max(room, 9))
        value = template.format(image=self.image, stage=stage, branch=branch)
        problem = refs.check_reference(value)
        if problem:
            raise UsageError(
                f"the name {value!r} made for stage '{stage}' from template {template!r} is invalid: {problem}."
            )
        return value

    def image_tag(self, stage: str) -> str:
        """The stage image's tag, e.g. ``registry/app:compile``."""
        return self._render(self.tag_template, stage)

    def cache_ref(self, stage: str) -> str:
        """The registry cache ref of a stage, e.g. ``registry/app:cache-compile``."""
        return self._render(self.ref_template, stage)

    def local_cache(self, stage: str) -> Path:
        """The local cache directory of a stage."""
        return self.local_dir / stage

    def local_incoming(self, stage: str) -> Path:
        """Where a stage's new local cache is written before it replaces the old one."""
        return self.local_dir / f".{stage}.incoming"


@dataclass(frozen=True)
class StageCache:
    """What one stage's build imports and exports."""

    cache_from: tuple[CacheSpec, ...] = ()
    cache_to: tuple[CacheSpec, ...] = ()
    legacy_from: tuple[str, ...] = ()
    pull: tuple[str, ...] = ()


@dataclass(frozen=True)
class CacheMode:
    """A cache backend. Subclasses fill in :meth:`for_stage`."""

    name: str = ""
    legacy_builder: bool = False
    """Uses the classic builder (``DOCKER_BUILDKIT=0 docker build``)."""
    exports_cache: bool = False
    """Needs a builder that can export ``registry``/``local`` cache."""
    needs_registry: bool = False
    """Cache lives in a registry, so the image repository must be pushable."""
    push_required: bool = False
    """The cache is the pushed stage image itself: nothing is cached without a push."""
    summary: str = ""

    def for_stage(
        self, stage: str, upstream: Sequence[str], naming: Naming, registry_mode: str, ignore_export_errors: bool
    ) -> StageCache:
        """Cache import/export for building ``stage`` after ``upstream`` stages."""
        return StageCache()


def _export_flags(ignore: bool) -> tuple[tuple[str, str], ...]:
    # ignore-error: a cache is an optimisation; a failed export must not fail a release build.
    return (("ignore-error", "true"),) if ignore else ()


@dataclass(frozen=True)
class RegistryCache(CacheMode):
    """``type=registry`` cache per stage, with ``mode=min|max``."""

    def for_stage(self, stage, upstream, naming, registry_mode, ignore_export_errors):  # noqa: D102
        return StageCache(
            cache_from=tuple(CacheSpec("registry", (("ref", naming.cache_ref(s)),)) for s in (stage, *upstream)),
            cache_to=(
                CacheSpec(
                    "registry",
                    (("ref", naming.cache_ref(stage)), ("mode", registry_mode), *_export_flags(ignore_export_errors)),
                ),
            ),
        )


@dataclass(frozen=True)
class InlineCache(CacheMode):
    """Inline cache metadata inside each pushed stage image."""

    def for_stage(self, stage, upstream, naming, registry_mode, ignore_export_errors):  # noqa: D102
        return StageCache(
            cache_from=tuple(CacheSpec("registry", (("ref", naming.image_tag(s)),)) for s in (stage, *upstream)),
            cache_to=(CacheSpec("inline"),),
        )


@dataclass(frozen=True)
class LocalCache(CacheMode):
    """``type=local`` cache in a directory per stage, replaced only after success."""

    def for_stage(self, stage, upstream, naming, registry_mode, ignore_export_errors):  # noqa: D102
        return StageCache(
            cache_from=tuple(CacheSpec("local", (("src", str(naming.local_cache(s))),)) for s in (stage, *upstream)),
            cache_to=(
                CacheSpec(
                    "local",
                    (
                        ("dest", str(naming.local_incoming(stage))),
                        ("mode", "max"),
                        *_export_flags(ignore_export_errors),
                    ),
                ),
            ),
        )


@dataclass(frozen=True)
class ClassicCache(CacheMode):
    """The legacy builder: pull every stage image, then ``--cache-from`` all of them."""

    def for_stage(self, stage, upstream, naming, registry_mode, ignore_export_errors):  # noqa: D102
        images = tuple(naming.image_tag(s) for s in (stage, *upstream))
        return StageCache(legacy_from=images, pull=images)


@dataclass(frozen=True)
class NoCache(CacheMode):
    """No cache import or export: the full-rebuild baseline."""


MODES: dict[str, CacheMode] = {
    m.name: m
    for m in (
        RegistryCache(
            name="registry",
            exports_cache=True,
            needs_registry=True,
            summary="BuildKit registry cache per stage (type=registry, mode=min|max)",
        ),
        InlineCache(
            name="inline",
            needs_registry=True,
            push_required=True,
            summary="BuildKit inline cache inside each pushed stage image",
        ),
        LocalCache(
            name="local",
            exports_cache=True,
            summary="BuildKit local cache directory per stage (type=local, mode=max)",
        ),
        ClassicCache(
            name="classic",
            legacy_builder=True,
            needs_registry=True,
            push_required=True,
            summary="legacy builder, stage images pulled and used with --cache-from",
        ),
        NoCache(name="none", summary="no cache import or export"),
    )
}


def get_mode(name: str) -> CacheMode:
    """The cache mode called ``name``."""
    try:
        return MODES[name]
    except KeyError:
        raise UsageError(f"unknown cache mode '{name}'; expected one of {', '.join(MODES)}.") from None
