"""Rendering of a BuildPlan: text for people, JSON (``stagecache.plan/v1``) for tools.

Build args whose names look secret are shown as ``***``; secrets are shown by
id and source (an environment variable name or a file path), never by value.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from stagecache import bakefile
from stagecache.plan import REDACTED, BuildPlan, Command

PLAN_SCHEMA = "stagecache.plan/v1"


def _stage_rows(plan: BuildPlan) -> list[dict]:
    built = {b.stage for b in plan.builds} | {f for b in plan.builds for f in b.folded}
    rows = []
    for s in plan.graph.stages:
        rows.append(
            {
                "name": s.label,
                "index": s.index,
                "line": s.line,
                "base": s.base,
                "base_stage": plan.graph.stages[s.base_stage].label if s.base_stage is not None else None,
                "depends_on": [plan.graph.stages[d].label for d in s.deps],
                "images": list(s.images),
                "platform": s.platform,
                "built": s.label in built,
                "steps": [{"number": i.step, "line": i.line, "instruction": i.text} for i in s.steps],
                "steps_total": s.total,
            }
        )
    return rows


_LOCAL_DIR_ORIGINS = {
    "config": " ([cache].local_dir)",
    "project": " (default)",
    "user": " (default outside the project: no .dockerignore line keeps .stagecache/cache out of the build context)",
}


def _bake_json(plan: BuildPlan) -> dict:
    command, definition = _bake_session(plan)
    return {
        "argv": list(command.argv),
        "env": {k: REDACTED for k, _ in command.env},
        "definition": definition,
    }


def to_json(plan: BuildPlan) -> dict:
    """The plan as a JSON-ready dict."""
    secret = plan.secret_args
    cfg = plan.config
    return {
        "schema": PLAN_SCHEMA,
        "config": str(cfg.path) if cfg.path else None,
        "dockerfile": str(cfg.dockerfile),
        "context": str(cfg.context),
        "target": plan.target,
        "cache": {
            "mode": plan.mode.name,
            "registry_mode": cfg.cache.registry_mode,
            "first_export": cfg.cache.first_export,
            "read_only": cfg.cache.read_only,
            "branch": plan.branch or None,
            "fallback_branch": plan.fallback_branch,
            "local_dir": str(cfg.cache.local_dir) if plan.mode.name == "local" else None,
            "local_dir_origin": cfg.cache.local_dir_origin if plan.mode.name == "local" else None,
        },
        "push": cfg.push_enabled and not cfg.cache.read_only,
        "docker_context": cfg.docker_context or None,
        "engine_from": cfg.docker_context_origin or None,
        "scope": plan.scope,
        "execution": cfg.execution,
        "probe": list(plan.probe.build.redacted(secret)) if plan.probe is not None else None,
        "probe_export": list(plan.probe_export.build.redacted(secret)) if plan.probe_export is not None else None,
        "bake": _bake_json(plan) if cfg.execution == "bake" else None,
        "frontend": plan.graph.frontend.to_json(),
        "platforms": [g.platform for g in plan.graphs] if cfg.platforms else [],
        "stages": _stage_rows(plan),
        "pulls": [list(c.argv) for c in plan.pulls],
        "builds": [
            {
                "stage": b.stage,
                "target": b.target,
                "includes": list(b.folded),
                "platforms": list(b.platforms),
                "upstream": list(b.upstream),
                "tags": list(b.tags),
                "push": b.push,
                "cache_from": [str(s) for s in b.cache.cache_from] + list(b.cache.legacy_from),
                "cache_to": [str(s) for s in b.cache.cache_to],
                "argv": list(b.build.redacted(secret)),
                "env": {k: REDACTED if k in secret else v for k, v in b.build.env},
                "then": [list(c.argv) for c in b.push_commands],
            }
            for b in plan.builds
        ],
        "warnings": list(plan.warnings),
    }


BAKE_FILE = "<bake file>"
"""Where the plan shows the bake file: bake writes it to a temporary file of its own."""


def _bake_session(plan: BuildPlan) -> tuple[Command, dict]:
    return bakefile.command(plan, BAKE_FILE), bakefile.definition(plan)


def _probe_lines(plan: BuildPlan, secret: Collection[str]) -> list[str]:
    """The fast path's first build, numbered 1, and what follows it (no lines without one)."""
    if plan.probe is None:
        return []
    then = (
        "  (read-only: this build is the whole bake)"
        if plan.config.cache.read_only
        else "  then only for the stages whose cache is not known to be current (to export it), or whose image's"
        " tags do not point at the image of a bake with the same inputs (to push it), of these:"
    )
    lines = [
        f"  1. # {plan.probe.stage}, importing every stage's cache, exporting nothing ([build].fast_path)",
        f"     {plan.probe.build.display(secret)}",
    ]
    if plan.probe_export is not None:
        lines.append(
            f"     (when the input records forecast that {plan.probe.stage} alone changed, this build also exports"
            f" its cache and pushes its image, as its own build below would)"
        )
        if plan.mode.name == "registry" and plan.config.cache.first_export == "shared" and plan.fallback_branch is None:
            lines.append(
                f'     (first_export = "shared": when {plan.probe.stage} and other stages have no cache yet, it exports'
                " its cache with mode=max, whatever registry_mode says, and each other stage without a cache gets a"
                " copy of it in the registry instead of an export)"
            )
    return [*lines, then]


def _bake_session_lines(plan: BuildPlan) -> list[str]:
    """execution = "bake": the one ``docker buildx bake`` bake runs, the file it runs, then
    what follows the session (pushes, local cache swaps)."""
    command, definition = _bake_session(plan)
    out = ["commands (one bake session):"]
    probe = _probe_lines(plan, plan.secret_args)
    out += probe
    n = 2 if probe else 1
    out.append(f"  {n}. {command.display(plan.secret_args)}")
    for b in plan.builds:
        for cmd in b.push_commands:
            n += 1
            out.append(f"  {n}. {cmd.display()}")
    swaps = [b.local_swap for b in plan.builds if b.local_swap]
    if swaps:
        out.append("     # then, for each stage, .STAGE.incoming replaces " + str(swaps[0][1].parent) + "/STAGE")
    out += ["", f"{BAKE_FILE} (written to a temporary file when bake runs):"]
    out += ["  " + line for line in json.dumps(definition, indent=2).splitlines()]
    return out


def engine_line(context: str, origin: str) -> str:
    """Which engine the commands go to, when it is not docker's current context ("" then)."""
    if context:
        return (
            f"docker context '{context}' (from {origin}): every docker command below runs as "
            f"`docker --context {context} ...`"
        )
    if origin:
        return f"the one {origin} names (docker's own variable; [project].docker_context gives way to it)"
    return ""


def render(plan: BuildPlan) -> str:
    """The plan as text: the graph, then every command in order."""
    cfg = plan.config
    secret = plan.secret_args
    mode = plan.mode.name + (f" (mode={cfg.cache.registry_mode})" if plan.mode.name == "registry" else "")
    if plan.mode.name == "registry" and cfg.cache.first_export == "shared":
        mode += ", first export shared"
    push = "on" if cfg.push_enabled else "off"
    if cfg.cache.read_only:
        push = "off (read-only: caches are imported, nothing is exported)"
    out = [
        f"config:     {cfg.source}",
        f"dockerfile: {cfg.dockerfile}",
        f"context:    {cfg.context}",
        f"target:     {plan.target}",
        f"frontend:   {plan.graph.frontend.description}",
        f"cache:      {mode}: {plan.mode.summary}",
        f"push:       {push}",
    ]
    engine = engine_line(cfg.docker_context, cfg.docker_context_origin)
    if engine:
        out.append(f"engine:     {engine}")
    if plan.mode.name == "local":
        out.append(f"local dir:  {cfg.cache.local_dir}{_LOCAL_DIR_ORIGINS[cfg.cache.local_dir_origin]}")
    if plan.branch:
        source = f" (from {cfg.branch_source})" if cfg.branch_source and cfg.branch else ""
        fallback = f"; also imports the caches of '{plan.fallback_branch}'" if plan.fallback_branch else ""
        out.append(f"branch:     {plan.branch}{source}{fallback}")
    out += [
        "",
        "stages:",
    ]
    rows = _stage_rows(plan)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        deps = ", ".join(r["depends_on"])
        images = ", ".join(r["images"])
        parts = []
        if deps:
            parts.append(f"needs {deps}")
        if images:
            parts.append(f"image {images}")
        mark = "*" if r["built"] else " "
        note = "" if r["built"] else "  (not needed by the target)"
        out.append(f"  {mark} {r['name']:<{width}}  line {r['line']:<4} {'; '.join(parts) or 'FROM scratch'}{note}")
    external = sorted({i for r in rows if r["built"] for i in r["images"]})
    if external:
        out.append(f"external images: {', '.join(external)}")
    if cfg.execution == "bake":
        out += ["", *_bake_session_lines(plan)]
        if plan.warnings:
            out.append("")
            out.extend(f"warning: {w}" for w in plan.warnings)
        return "\n".join(out)
    out += ["", "commands:"]
    probe = _probe_lines(plan, secret)
    out += probe
    n = 1 if probe else 0
    for cmd in plan.pulls:
        n += 1
        out.append(f"  {n}. {cmd.display()}    # a missing image is fine on the first run")
    # A read-only bake with a first build is that build alone.
    builds = () if plan.config.cache.read_only and plan.probe is not None else plan.builds
    for b in builds:
        n += 1
        label = b.stage + (f" (with {', '.join(b.folded)})" if b.folded else "")
        out.append(f"  {n}. # {label}")
        out.append(f"     {b.build.display(secret)}")
        for cmd in b.push_commands:
            n += 1
            out.append(f"  {n}. {cmd.display()}")
        if b.local_swap:
            out.append(f"     # then {b.local_swap[0].name} replaces {b.local_swap[1]}")
    if plan.warnings:
        out.append("")
        out.extend(f"warning: {w}" for w in plan.warnings)
    return "\n".join(out)
