"""The plan as a ``docker buildx bake`` definition: one target per stage, each with its
own tags, cache-from and cache-to, in a group ``default``.

Used by ``[build].execution = "bake"`` (one BuildKit session for every stage) and by
``stagecache export-bake`` for teams that want plain buildx. Pure: builds dicts.
Secret build args (plan.secret_arg_names: names that look secret, ``[build].secret_args``,
values with a password in a URL) are not written into the file: they become bake variables
(``${NAME}``) that bake reads from the environment.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from stagecache.cache import CacheSpec
from stagecache.errors import UsageError
from stagecache.plan import BuildPlan, Command

GROUP = "default"


def target_name(stage: str) -> str:
    """A bake target name for a stage (bake allows letters, digits, '_' and '-')."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", stage)


def _literal(value: str) -> str:
    # Bake interpolates ${...} and %{...} in every string: escape them so values stay values.
    return value.replace("${", "$${").replace("%{", "%%{")


def check(plan: BuildPlan) -> None:
    """Refuse what bake cannot express."""
    if plan.mode.legacy_builder:
        raise UsageError(
            f"{plan.config.source}: cache mode 'classic' uses the legacy builder, which has no bake equivalent. "
            'Use execution = "per-stage" (--execution per-stage) or a BuildKit cache mode (registry, inline, local).'
        )
    seen: dict[str, str] = {}
    for b in plan.builds:
        name = target_name(b.stage)
        if name in seen:
            raise UsageError(
                f"{plan.graph.path}: stages '{seen[name]}' and '{b.stage}' would both be the bake target '{name}' "
                "(a target name cannot hold '.'). Rename one of them, or use execution = \"per-stage\"."
            )
        seen[name] = b.stage


def definition(plan: BuildPlan, no_cache: bool = False, standalone: bool = False, base: Path | None = None) -> dict:
    """The bake file (JSON-ready dict). ``standalone`` (for export-bake): a local cache is
    written straight to its directory, since plain bake has no step that swaps it in.
    ``base`` (for export-bake): the folder bake will run in (buildx reads a target's context
    and local cache paths from its working directory, and its dockerfile from the context):
    paths are written relative to it, so that the file can be committed and shared."""
    check(plan)
    cfg = plan.config
    secret_args = plan.secret_args

    def path(p: Path, start: Path | None = base) -> str:
        return str(p) if start is None else os.path.relpath(p, start)

    def relative(spec: CacheSpec) -> CacheSpec:
        if base is None or spec.type != "local":
            return spec
        return replace(spec, attrs=tuple((k, path(Path(v)) if k in ("src", "dest") else v) for k, v in spec.attrs))

    targets: dict[str, dict] = {}
    for b in plan.builds:
        t: dict = {
            "context": path(cfg.context),
            "dockerfile": path(cfg.dockerfile, cfg.context if base is not None else None),
        }
        if b.target:
            t["target"] = b.target
        t["tags"] = list(b.tags)
        if cfg.build_args:
            t["args"] = {
                name: ("${" + name + "}" if name in secret_args else _literal(value)) for name, value in cfg.build_args
            }
        if cfg.secrets:
            t["secret"] = [f"id={s.id},{s.source()}" for s in cfg.secrets]
        if cfg.network:
            t["network"] = cfg.network
        if cfg.platforms:
            t["platforms"] = list(cfg.platforms)
        if b.cache.cache_from:
            t["cache-from"] = [str(relative(s)) for s in b.cache.cache_from]
        if b.cache.cache_to:
            specs = list(b.cache.cache_to)
            if standalone and b.local_swap:
                final = str(b.local_swap[1])
                specs = [
                    replace(s, attrs=tuple((k, final if k == "dest" else v) for k, v in s.attrs))
                    if s.type == "local"
                    else s
                    for s in specs
                ]
            t["cache-to"] = [str(relative(s)) for s in specs]
        if b.push and (standalone or not b.push_commands):
            t["output"] = ["type=registry"]
        elif len(cfg.platforms) <= 1:
            t["output"] = ["type=docker"]
        if no_cache:
            t["no-cache"] = True
        targets[target_name(b.stage)] = t
    out: dict = {}
    if secret_args:
        out["variable"] = {name: {"default": ""} for name in secret_args}
    out["group"] = {GROUP: {"targets": list(targets)}}
    out["target"] = targets
    return out


def command(plan: BuildPlan, path: str) -> Command:
    """``docker buildx bake`` of the definition at ``path``; secret build args travel
    in the process environment (bake variables), never in the file or the argv."""
    argv = ["docker", "buildx", "bake"]
    if plan.config.builder:
        argv += ["--builder", plan.config.builder]
    argv += ["--progress=rawjson", "--file", path, GROUP]
    env = tuple((name, value) for name, value in plan.config.build_args if name in plan.secret_args)
    return Command(tuple(argv), env)
