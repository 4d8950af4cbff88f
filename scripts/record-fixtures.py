#!/usr/bin/env python3
"""Record real BuildKit ``--progress=rawjson`` streams as unit-test fixtures.

    python scripts/record-fixtures.py              # every scenario
    python scripts/record-fixtures.py twelve-steps bake-session
    python scripts/record-fixtures.py --list

Each scenario writes a tiny Dockerfile and build context into a temporary folder, runs
``docker buildx build`` / ``docker buildx bake`` with ``--progress=rawjson`` against the
engine of this machine (scripts/engine.sh up) and saves, under tests/data/rawjson/:

- ``<scenario>.<run>.rawjson``  the command's stderr, byte for byte (``<run>`` is ``cold``,
  ``warm``, ...; a cold run uses ``--no-cache``, the warm run is the same build right after);
- ``<scenario>.Dockerfile``     the exact Dockerfile (``<scenario>.bake.json`` for bake);
- ``MANIFEST.json``             per run: the argv (temporary paths and the registry address
  replaced by placeholders), exit code, date, engine versions.

The engine is shared with other tests: nothing here prunes, restarts or removes anything it
did not create. Images loaded with ``--load`` get a ``stagecache-fixtures/<scenario>`` tag that
is removed afterwards. Every RUN echoes the scenario's name so no scenario's cache serves another.

BuildKit names a vertex once per digest for every concurrent solve on the daemon, so a build
that shares its ``FROM`` with another build running at the same moment (another test) can show
that build's ``[stage 1/N] FROM`` name. Such a recording is retried (see ``foreign_from``).

``registry-cache-import`` starts a private, throw-away dockerd (own data-root, exec-root,
socket and containerd, same binary; stopped by its pid and deleted afterwards) to play the
fresh CI runner, since the shared engine must not be pruned.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "data" / "rawjson"
BASE = "stagecache/busybox:latest"
TAG_REPO = "stagecache-fixtures"
ATTEMPTS = 4
BUILD_TIMEOUT = 900


def engine_env() -> dict[str, str]:
    values: dict[str, str] = {}
    path = REPO / ".engine" / "env"
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    for key in ("STAGECACHE_TEST_REGISTRY", "STAGECACHE_TEST_BASE_IMAGE"):
        if os.environ.get(key):
            values[key] = os.environ[key]
    return values


REGISTRY = engine_env().get("STAGECACHE_TEST_REGISTRY", "")


# --------------------------------------------------------------------------- stream helpers


def decode(stream: bytes) -> tuple[list[dict], list[str]]:
    """The JSON objects of a rawjson stream and the plain-text lines between/after them."""
    text = stream.decode("utf-8", "replace")
    dec = json.JSONDecoder()
    objs: list[dict] = []
    lines: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] == "{":
            try:
                obj, i = dec.raw_decode(text, i)
                objs.append(obj)
                continue
            except json.JSONDecodeError:
                pass
        end = text.find("\n", i)
        end = n if end < 0 else end
        lines.append(text[i:end])
        i = end + 1
    return objs, lines


def vertex_summary(objs: list[dict]) -> dict[str, dict]:
    """digest -> last seen facts (names seen, cached, error, completed)."""
    out: dict[str, dict] = {}
    for obj in objs:
        for v in obj.get("vertexes") or []:
            rec = out.setdefault(v["digest"], {"names": [], "cached": False, "error": "", "completed": False})
            if v.get("name") and v["name"] not in rec["names"]:
                rec["names"].append(v["name"])
            rec["cached"] = rec["cached"] or bool(v.get("cached"))
            rec["error"] = v.get("error") or rec["error"]
            rec["completed"] = rec["completed"] or bool(v.get("completed"))
    return out


STEP = re.compile(r"^\[(?P<label>[^\]]*?)\s*(?P<num>\d+)/(?P<total>\d+)\] (?P<text>.*)$", re.DOTALL)


def _key(label: str, total: str) -> tuple[str, str]:
    # Platform tokens ("linux/amd64", "linux/amd64->arm64") differ between a shared FROM and
    # the steps after it; the stage (and bake target) words do not.
    return " ".join(t for t in label.split() if "/" not in t), total


def foreign_from(objs: list[dict]) -> list[str]:
    """``[x 1/N] FROM`` names whose ``[x k/N]`` (k > 1) never shows up: the vertex was named by
    another build running on the daemon at the same time."""
    names = [n for rec in vertex_summary(objs).values() for n in rec["names"]]
    steps = set()
    froms = []
    for name in names:
        m = STEP.match(name)
        if not m:
            continue
        if m["num"] == "1" and m["text"].startswith("FROM "):
            froms.append((name, _key(m["label"], m["total"])))
        elif m["num"] != "1":
            steps.add(_key(m["label"], m["total"]))
    return [name for name, key in froms if key not in steps]


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    scenario: str
    run: str
    argv: list[str]
    cwd: Path
    env: dict[str, str] | None = None
    note: str = ""


@dataclass
class Recorded:
    file: str
    scenario: str
    run: str
    argv: list[str]
    exit_code: int
    date: str
    seconds: float
    bytes: int
    attempts: int
    note: str = ""
    engine: str = "shared"
    summary: dict = field(default_factory=dict)


class Recorder:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.placeholders: list[tuple[str, str]] = [(str(tmp), "<TMP>")]
        if REGISTRY:
            self.placeholders.append((REGISTRY, "<REGISTRY>"))
        self.results: list[Recorded] = []
        self.streams: dict[str, bytes] = {}  # written only once the whole scenario succeeded

    def scrub(self, s: str) -> str:
        for real, ph in self.placeholders:
            s = s.replace(real, ph)
        return s

    def execute(self, r: Run, check_foreign: bool = True, engine: str = "shared") -> Recorded:
        attempts = 0
        while True:
            attempts += 1
            started = datetime.now(timezone.utc)
            t0 = time.monotonic()
            proc = subprocess.run(r.argv, cwd=r.cwd, env=r.env, capture_output=True, timeout=BUILD_TIMEOUT)
            seconds = time.monotonic() - t0
            objs, _ = decode(proc.stderr)
            if not objs:
                raise RuntimeError(f"{' '.join(r.argv[:3])} printed no rawjson: {proc.stderr.decode()[-600:].strip()}")
            foreign = foreign_from(objs) if check_foreign else []
            if not foreign or attempts >= ATTEMPTS:
                break
            print(f"  {r.scenario}.{r.run}: FROM vertex named by another build ({foreign[0]!r}); again", flush=True)
            time.sleep(3)
        name = f"{r.scenario}.{r.run}.rawjson"
        self.streams[name] = proc.stderr
        rec = Recorded(
            file=name,
            scenario=r.scenario,
            run=r.run,
            argv=[self.scrub(a) for a in r.argv],
            exit_code=proc.returncode,
            date=started.isoformat(timespec="seconds"),
            seconds=round(seconds, 1),
            bytes=len(proc.stderr),
            attempts=attempts,
            note=r.note + (f" Still shows a foreign FROM name: {foreign}." if foreign else ""),
            engine=engine,
            summary=summarize(proc.stderr),
        )
        rec.summary["text_lines"] = [self.scrub(line) for line in rec.summary["text_lines"]]
        self.results.append(rec)
        s = rec.summary
        print(
            f"  recorded {name}: exit {rec.exit_code}, {rec.bytes} bytes, {s['vertices']} vertices, "
            f"{s['cached']} cached, {s['errors']} with error, {rec.seconds}s"
            + (f" ({attempts} attempts)" if attempts > 1 else ""),
            flush=True,
        )
        return rec


def summarize(stream: bytes) -> dict:
    objs, lines = decode(stream)
    vs = vertex_summary(objs)
    return {
        "messages": len(objs),
        "vertices": len(vs),
        "cached": sum(1 for v in vs.values() if v["cached"]),
        "errors": sum(1 for v in vs.values() if v["error"]),
        "text_lines": lines,
    }


def docker(*args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    p = subprocess.run(["docker", *args], env=env, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout.strip()


def remove_own_tag(tag: str, env: dict[str, str] | None = None) -> None:
    if docker("image", "ls", "-q", tag, env=env, check=False):
        docker("image", "rm", tag, env=env, check=False)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def save_dockerfile(scenario: str, text: str) -> None:
    (OUT / f"{scenario}.Dockerfile").write_text(text)


def build_argv(
    tmp: Path,
    *,
    target: str | None = None,
    no_cache: bool = False,
    network: bool = True,
    output: list[str] | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    argv = ["docker", "buildx", "build", "--progress=rawjson", "--file", str(tmp / "Dockerfile")]
    if target:
        argv += ["--target", target]
    if network:
        argv += ["--network", "none"]
    if no_cache:
        argv.append("--no-cache")
    argv += extra or []
    argv += output or []
    argv.append(str(tmp / "context"))
    return argv


def load_tag(scenario: str) -> list[str]:
    return ["--load", "--tag", f"{TAG_REPO}/{scenario}:latest"]


def cold_warm(rec: Recorder, scenario: str, dockerfile: str, files: dict[str, str], **kw) -> None:
    """Write the Dockerfile + context, build with --no-cache, then build again (and, for each
    run named in ``edits``, again after writing those context files)."""
    tmp = rec.tmp
    write(tmp / "Dockerfile", dockerfile)
    for name, text in files.items():
        write(tmp / "context" / name, text)
    (tmp / "context").mkdir(exist_ok=True)
    save_dockerfile(scenario, dockerfile)
    runs = kw.pop("runs", ("cold", "warm"))
    edits: dict[str, dict[str, str]] = kw.pop("edits", {})
    load = kw.pop("load", True)
    output = load_tag(scenario) if load else kw.pop("output", None)
    try:
        for run in runs:
            for name, text in edits.get(run, {}).items():
                write(tmp / "context" / name, text)
            argv = build_argv(tmp, no_cache=(run == "cold"), output=output, **kw)
            rec.execute(Run(scenario, run, argv, tmp))
    finally:
        if load:
            remove_own_tag(f"{TAG_REPO}/{scenario}:latest")


# --------------------------------------------------------------------------- scenarios


def run_lines(scenario: str, steps: range, stage: str = "") -> str:
    tag = f"{scenario} {stage}".strip()
    return "".join(f'RUN echo "{tag} step {i}" > /step-{i:03d}.txt\n' for i in steps)


def s_twelve_steps(rec: Recorder) -> None:
    sc = "twelve-steps"
    df = f"FROM {BASE} AS build\n" + run_lines(sc, range(2, 13))
    df += f"\nFROM {BASE} AS final\nCOPY --from=build /step-*.txt /out/\n"
    cold_warm(rec, sc, df, {}, target="final")


def s_single_unnamed(rec: Recorder) -> None:
    sc = "single-unnamed-eleven"
    df = f"FROM {BASE}\n" + run_lines(sc, range(2, 12))
    cold_warm(rec, sc, df, {})


def unused_stage(stage: str, last: str) -> str:
    """BuildKit drops the stage name from step names when the Dockerfile has one stage
    ("[  7/105]" even for "FROM x AS big"); a second, never built, stage brings it back."""
    return (
        f"\n# Never built (--target {stage}). Without a second stage BuildKit leaves the\n"
        f"# stage name out of the step names: [ 5/12] instead of [{stage}  5/12].\n"
        f"FROM scratch AS unused\nCOPY --from={stage} {last} /\n"
    )


def s_hundred(rec: Recorder) -> None:
    sc = "hundred-steps"
    df = f"FROM {BASE} AS big\n" + run_lines(sc, range(2, 106)) + unused_stage("big", "/step-105.txt")
    cold_warm(rec, sc, df, {}, target="big")


def s_single_named(rec: Recorder) -> None:
    """Extra: a single stage with a name still prints "[ 2/3]"."""
    sc = "single-named-stage"
    df = f"FROM {BASE} AS solo\n" + run_lines(sc, range(2, 4))
    cold_warm(rec, sc, df, {}, target="solo", runs=("cold",))


def s_fail(rec: Recorder) -> None:
    sc = "fail-step-5-of-12"
    lines = run_lines(sc, range(2, 13)).splitlines(keepends=True)
    # lines[0] is step 2; step 5 is lines[3].
    lines[3] = (
        f'RUN echo "{sc}: step 5 starts" && echo "{sc}: warning on stderr" >&2 && '
        f'echo "{sc}: second stdout line" && echo "{sc}: fatal: giving up with 3" >&2 && exit 3\n'
    )
    df = f"FROM {BASE} AS build\n" + "".join(lines) + unused_stage("build", "/step-012.txt")
    cold_warm(rec, sc, df, {}, target="build", runs=("cold",))


def s_many_stages(rec: Recorder) -> None:
    sc = "many-stages"
    df = f"""FROM {BASE} AS base
RUN echo "{sc} base 1" > /base-1.txt
RUN echo "{sc} base 2" > /base-2.txt

FROM base AS a
RUN echo "{sc} a 1" > /a-1.txt
RUN echo "{sc} a 2" > /a-2.txt

FROM base AS b
RUN echo "{sc} b 1" > /b-1.txt
RUN echo "{sc} b 2" > /b-2.txt
RUN echo "{sc} b 3" > /b-3.txt

FROM base AS c
RUN echo "{sc} c 1" > /c-1.txt
RUN echo "{sc} c 2" > /c-2.txt

FROM base AS d
COPY --from=a /a-1.txt /a-2.txt /from-a/
COPY --from=b /b-1.txt /b-2.txt /b-3.txt /from-b/
RUN echo "{sc} d 1" > /d-1.txt

FROM c AS e
RUN echo "{sc} e 1" > /e-1.txt
COPY hello.txt /e-hello.txt

FROM d AS f
COPY --from=e /e-1.txt /c-1.txt /c-2.txt /from-e/
RUN echo "{sc} f 1" > /f-1.txt

FROM {BASE} AS final
COPY --from=f /from-a /from-b /from-e /out/
RUN echo "{sc} final 1" > /final-1.txt
"""
    # edit-e: the file only stage e copies changes: base, a, b, c and d hit, e misses from its
    # COPY on, and f and final miss where they copy from e.
    edited = {"hello.txt": f"{sc} edited\n"}
    cold_warm(
        rec, sc, df, {"hello.txt": f"{sc}\n"}, target="final", runs=("cold", "warm", "edit-e"), edits={"edit-e": edited}
    )


def s_many_stages_fail(rec: Recorder) -> None:
    """many-stages, but stage d's RUN fails: one build of the target that fails mid-graph (what
    the fast path's first build shows when a stage in the middle breaks)."""
    sc = "many-stages-fail"
    df = f"""FROM {BASE} AS base
RUN echo "{sc} base 1" > /base-1.txt

FROM base AS a
RUN echo "{sc} a 1" > /a-1.txt

FROM base AS b
RUN echo "{sc} b 1" > /b-1.txt

FROM base AS d
COPY --from=a /a-1.txt /from-a/
COPY --from=b /b-1.txt /from-b/
RUN echo "{sc} d fails" && exit 3

FROM {BASE} AS final
COPY --from=d /from-a /out/
RUN echo "{sc} final 1" > /final-1.txt
"""
    cold_warm(rec, sc, df, {}, target="final", runs=("cold",))


def s_two_platforms(rec: Recorder) -> None:
    sc = "two-platforms"
    df = f"""FROM --platform=$BUILDPLATFORM {BASE} AS build
ARG TARGETARCH
RUN echo "{sc} built on $(uname -m) for $TARGETARCH" > /arch.txt
RUN cat /arch.txt && echo "{sc} step 3 $TARGETARCH" >> /arch.txt

FROM scratch AS out
COPY --from=build /arch.txt /arch.txt
COPY hello.txt /hello.txt
"""
    cold_warm(
        rec,
        sc,
        df,
        {"hello.txt": f"{sc}\n"},
        target="out",
        load=False,
        output=["--output", "type=cacheonly"],
        extra=["--platform", "linux/amd64,linux/arm64"],
    )


BAKE_STAGES = ("base", "deps-a", "deps-b", "app")


def bake_dockerfile(sc: str, missing: bool) -> str:
    b_src = "missing-file.txt" if missing else "b.txt"
    return f"""FROM {BASE} AS base
WORKDIR /{sc}
COPY base-1.txt ./base-1.txt
COPY base-2.txt ./base-2.txt

FROM base AS deps-a
COPY a.txt ./a.txt

FROM base AS deps-b
COPY {b_src} ./b.txt

FROM base AS app
COPY --from=deps-a /{sc}/a.txt ./a.txt
COPY --from=deps-b /{sc}/b.txt ./b.txt
"""


def bake(rec: Recorder, sc: str, missing: bool) -> None:
    tmp = rec.tmp
    df = bake_dockerfile(sc, missing)
    write(tmp / "Dockerfile", df)
    for name in ("base-1.txt", "base-2.txt", "a.txt", "b.txt"):
        write(tmp / "context" / name, f"{sc} {name}\n")
    targets = {}
    for stage in BAKE_STAGES:
        targets[stage] = {
            "context": str(tmp / "context"),
            "dockerfile": str(tmp / "Dockerfile"),
            "target": stage,
            "cache-from": [f"type=local,src={tmp}/cache/{stage}"],
            "cache-to": [f"type=local,dest={tmp}/cache/{stage}"],
            "output": ["type=cacheonly"],
        }
    definition = {"group": {"default": {"targets": list(BAKE_STAGES)}}, "target": targets}
    text = json.dumps(definition, indent=2) + "\n"
    write(tmp / "bake.json", text)
    save_dockerfile(sc, df)
    (OUT / f"{sc}.bake.json").write_text(rec.scrub(text))
    runs = ("cold",) if missing else ("cold", "warm")
    for run in runs:
        argv = ["docker", "buildx", "bake", "--progress=rawjson", "--file", str(tmp / "bake.json")]
        if run == "cold":
            argv.append("--no-cache")
        note = (
            "Cold: the cache directories do not exist yet." if run == "cold" else "Warm: the cache directories exist."
        )
        rec.execute(Run(sc, run, argv, tmp, note=note))


def s_bake(rec: Recorder) -> None:
    bake(rec, "bake-session", missing=False)


def s_bake_fail(rec: Recorder) -> None:
    bake(rec, "bake-session-fail", missing=True)


class PrivateDockerd:
    """A throw-away dockerd beside the shared one: the fresh CI runner."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen | None = None
        self.sock = root / "d.sock"
        self.env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONTEXT", "DOCKER_HOST")}
        self.env["DOCKER_HOST"] = f"unix://{self.sock}"
        self.env["DOCKER_CONFIG"] = str(root / "config")

    def start(self) -> None:
        (self.root / "config").mkdir(parents=True, exist_ok=True)
        cfg = self.root / "daemon.json"
        cfg.write_text(
            json.dumps(
                {
                    "features": {"containerd-snapshotter": True},
                    "bridge": "none",
                    "iptables": False,
                    "ip6tables": False,
                }
            )
        )
        argv = [
            "dockerd",
            "--config-file",
            str(cfg),
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "--pidfile",
            str(self.root / "dockerd.pid"),
            "--host",
            f"unix://{self.sock}",
        ]
        log = open(self.root / "dockerd.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"private dockerd exited: {(self.root / 'dockerd.log').read_text()[-2000:]}")
            p = subprocess.run(["docker", "info"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if p.returncode == 0:
                return
            time.sleep(1)
        raise RuntimeError("private dockerd did not answer within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Anything dockerd left mounted under our folder is ours; unmount before deleting it.
        for _ in range(3):
            mounts = [
                line.split()[4]
                for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if line.split()[4].startswith(str(self.root) + "/")
            ]
            if not mounts:
                break
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)


def s_registry(rec: Recorder) -> None:
    sc = "registry-cache-import"
    if not REGISTRY:
        print(f"  {sc}: no STAGECACHE_TEST_REGISTRY; skipped")
        return
    tmp = rec.tmp
    ref = f"{REGISTRY}/fixtures/twelve:cache"
    df = f"FROM {BASE} AS build\n" + run_lines(sc, range(2, 13)) + unused_stage("build", "/step-012.txt")
    write(tmp / "Dockerfile", df)
    (tmp / "context").mkdir(exist_ok=True)
    save_dockerfile(sc, df)
    tag = f"{TAG_REPO}/{sc}:latest"
    try:
        argv = build_argv(
            tmp,
            target="build",
            no_cache=True,
            output=load_tag(sc),
            extra=["--cache-to", f"type=registry,ref={ref},mode=max"],
        )
        rec.execute(Run(sc, "export-cold", argv, tmp, note="Shared engine, --no-cache, exports the registry cache."))
    finally:
        remove_own_tag(tag)

    runner = PrivateDockerd(Path(tempfile.mkdtemp(prefix="scfx-d-")))
    try:
        runner.start()
        docker("pull", "--quiet", f"{REGISTRY}/{BASE}", env=runner.env)
        docker("tag", f"{REGISTRY}/{BASE}", BASE, env=runner.env)
        rec.placeholders.insert(0, (str(runner.root), "<RUNNER>"))
        argv = build_argv(tmp, target="build", output=load_tag(sc), extra=["--cache-from", f"type=registry,ref={ref}"])
        rec.execute(
            Run(
                sc,
                "import-fresh",
                argv,
                tmp,
                env=runner.env,
                note=(
                    "Fresh runner: a private dockerd 26.1.5 (containerd image store, empty data-root) started "
                    "beside the shared one, DOCKER_HOST=unix://<RUNNER>/d.sock; its only images: the base pulled "
                    f"from <REGISTRY>/{BASE} and tagged {BASE}. Every cached vertex comes from the registry cache."
                ),
            ),
            check_foreign=False,
            engine="private dockerd (fresh runner)",
        )
    finally:
        runner.stop()
        shutil.rmtree(runner.root, ignore_errors=True)


def s_concurrent(rec: Recorder) -> None:
    """Extra: what a build shows when another build on the daemon shares its FROM vertex."""
    sc = "concurrent-shared-from"
    tmp = rec.tmp
    holder = tmp / "holder"
    write(
        holder / "Dockerfile",
        f'FROM {BASE} AS holder\nRUN echo "{sc} holder" && sleep 6\n' + unused_stage("holder", "/"),
    )
    (holder / "context").mkdir(exist_ok=True)
    df = f"FROM {BASE} AS victim\n" + run_lines(sc, range(2, 4)) + unused_stage("victim", "/step-003.txt")
    write(tmp / "Dockerfile", df)
    (tmp / "context").mkdir(exist_ok=True)
    save_dockerfile(sc, df)
    holder_argv = build_argv(holder, target="holder", no_cache=True, output=["--output", "type=cacheonly"])
    box: dict = {}

    def hold() -> None:
        box["p"] = subprocess.run(holder_argv, capture_output=True, timeout=BUILD_TIMEOUT)

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(2.5)
    argv = build_argv(tmp, target="victim", no_cache=True, output=["--output", "type=cacheonly"])
    rec.execute(
        Run(
            sc,
            "cold",
            argv,
            tmp,
            note=(
                "Started 2.5 s after another build (stage 'holder': FROM the same base + RUN sleep 6, "
                f"argv {rec.scrub(' '.join(holder_argv))}) that was still running."
            ),
        ),
        check_foreign=False,
    )
    t.join()


SCENARIOS: dict[str, Callable[[Recorder], None]] = {
    "twelve-steps": s_twelve_steps,
    "single-unnamed-eleven": s_single_unnamed,
    "hundred-steps": s_hundred,
    "fail-step-5-of-12": s_fail,
    "single-named-stage": s_single_named,
    "many-stages": s_many_stages,
    "many-stages-fail": s_many_stages_fail,
    "two-platforms": s_two_platforms,
    "bake-session": s_bake,
    "bake-session-fail": s_bake_fail,
    "registry-cache-import": s_registry,
    "concurrent-shared-from": s_concurrent,
}


def versions() -> dict[str, str]:
    return {
        "buildx": docker("buildx", "version", check=False),
        "dockerd": docker("version", "--format", "{{.Server.Version}}", check=False),
        "docker_client": docker("version", "--format", "{{.Client.Version}}", check=False),
        "server_components": docker(
            "version", "--format", "{{range .Server.Components}}{{.Name}} {{.Version}}; {{end}}", check=False
        ),
        "storage_driver": docker("info", "--format", "{{.Driver}}", check=False),
    }


def main() -> int:
    global OUT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", nargs="*", help="scenarios to record (default: all)")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--out", type=Path, default=OUT, help="where to write (default: tests/data/rawjson)")
    args = ap.parse_args()
    OUT = args.out.resolve()
    if args.list:
        print("\n".join(SCENARIOS))
        return 0
    unknown = [s for s in args.scenario if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    chosen = args.scenario or list(SCENARIOS)
    OUT.mkdir(parents=True, exist_ok=True)
    manifest_path = OUT / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if subprocess.run(["docker", "version"], capture_output=True).returncode != 0:
        print(
            "record-fixtures: the Docker daemon does not answer (scripts/engine.sh up?); nothing recorded",
            file=sys.stderr,
        )
        return 2
    engine = versions()
    print(f"engine: dockerd {engine['dockerd']}, {engine['buildx']}; registry {REGISTRY or '-'}")
    failed = []
    for sc in chosen:
        print(f"{sc}:", flush=True)
        tmp = Path(tempfile.mkdtemp(prefix="scfx-"))
        rec = Recorder(tmp)
        try:
            SCENARIOS[sc](rec)
        except Exception as exc:  # report, keep going with the other scenarios
            print(f"  {sc}: FAILED to record, its fixtures are left as they were: {exc}", file=sys.stderr)
            failed.append(sc)
            continue
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for old in OUT.glob(f"{sc}.*.rawjson"):
            old.unlink()
        for name, stream in rec.streams.items():
            (OUT / name).write_bytes(stream)
        manifest.setdefault("scenarios", {})[sc] = {
            "dockerfile": f"{sc}.Dockerfile",
            "recordings": [
                {
                    "file": r.file,
                    "run": r.run,
                    "argv": r.argv,
                    "exit_code": r.exit_code,
                    "date": r.date,
                    "seconds": r.seconds,
                    "bytes": r.bytes,
                    "attempts": r.attempts,
                    "engine": r.engine,
                    "vertices": r.summary["vertices"],
                    "cached_vertices": r.summary["cached"],
                    "error_vertices": r.summary["errors"],
                    "plain_text_lines": r.summary["text_lines"],
                    **({"note": r.note.strip()} if r.note.strip() else {}),
                }
                for r in rec.results
            ],
            "engine": engine,
        }
        if (OUT / f"{sc}.bake.json").exists():
            manifest["scenarios"][sc]["bake_file"] = f"{sc}.bake.json"
    manifest["placeholders"] = {
        "<TMP>": "the scenario's temporary folder (Dockerfile, context/, bake.json, cache/)",
        "<REGISTRY>": "the test registry (STAGECACHE_TEST_REGISTRY); the .rawjson files keep the real address",
        "<RUNNER>": "the private dockerd's temporary folder (registry-cache-import only)",
    }
    manifest["scenarios"] = dict(sorted(manifest["scenarios"].items()))
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {manifest_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
