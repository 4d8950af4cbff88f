"""Secret build args on the real engine, through the CLI as a user runs it: no part of a secret
value reaches stdout, stderr, the JSON report, `plan`, `plan --json`, `export-bake` or the CI
job summary, on the success and on the failure path, although the build prints the values
plainly, inside a long line sent in several chunks, split between two chunks, and (the
value written in the Dockerfile as an ARG default) in a frontend warning."""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys
from pathlib import Path

from tests.conftest import Engine
from tests.engine.conftest import Project

STAGECACHE = str(Path(sys.executable).parent / "stagecache")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [STAGECACHE, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300
    )


def toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's


def test_no_part_of_a_secret_build_arg_reaches_any_output(make_project, engine: Engine, tmp_path: Path) -> None:
    rng = random.SystemRandom()

    def token(n: int = 40) -> str:
        return "".join(rng.choices(string.ascii_letters + string.digits, k=n))

    # DB_PASS is also written in the Dockerfile (so: no '"', '\' or '$'); SIGNING_KEY has those.
    secrets = {
        "DB_PASS": token() + " &<>%{}é@:!#*~",
        "SIGNING_KEY": token() + " \"\\$'`${X}%{Y}ü",
        "MY_VALUE": token(),  # secret only because [build].secret_args says so
    }
    password = token(24)
    mirror = f"https://ci:{password}@mirror.invalid/simple"  # a credential URL in an ordinary arg
    p: Project = make_project("hello")
    args = "".join(f"{name} = {toml_string(value)}\n" for name, value in secrets.items())
    p.configure("local", extra=f'[build]\nsecret_args = ["MY_VALUE"]\n[build.args]\n{args}MIRROR = "{mirror}"\n')
    (p.root / "Dockerfile").write_text(
        f"FROM {engine.local_base_image} AS leak\n"
        # The empty line makes the frontend warn, quoting the ARG line (and the default in it).
        f'ARG DB_PASS="{secrets["DB_PASS"]}" \\\n'
        "\n"
        "    SIGNING_KEY MY_VALUE MIRROR\n"
        'RUN printf \'plain: %s %s %s\\n\' "$DB_PASS" "$MY_VALUE" "$MIRROR"\n'
        # A 4,4xx-character line, written in three pieces with pauses: BuildKit sends each piece
        # as its own log entry, the secret alone in the middle one.
        "RUN head -c 4100 /dev/zero | tr '\\0' a; sleep 0.2; printf '%s' \"$SIGNING_KEY\"; sleep 0.2; "
        "head -c 300 /dev/zero | tr '\\0' b; echo\n"
        # Each value split between two log entries.
        "RUN printf 'split: %s' \"${DB_PASS:0:20}\"; sleep 0.2; printf '%s|' \"${DB_PASS:20}\"; sleep 0.2; "
        "printf '%s' \"${SIGNING_KEY:0:25}\"; sleep 0.2; printf '%s\\n' \"${SIGNING_KEY:25}\"\n"
        "\n"
        "FROM leak AS boom\n"
        "ARG SIGNING_KEY\n"
        "RUN printf 'failing with %s\\n' \"$SIGNING_KEY\" >&2; exit 3\n"
    )
    assert (p.root / ".dockerignore").read_text().startswith(".stagecache/")
    report, summary, bakefile = tmp_path / "report.json", tmp_path / "summary.md", tmp_path / "bake.json"
    summary.write_text("")

    plan_text = cli("plan", "-C", str(p.root))
    plan_json = cli("plan", "-C", str(p.root), "--json")
    exported = cli("export-bake", "-C", str(p.root), str(bakefile))
    done = cli(
        "bake", "-C", str(p.root), "--verbose", "--progress", "plain", "--report", str(report),
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip

    assert plan_text.returncode == 0 and plan_json.returncode == 0, plan_text.stderr + plan_json.stderr
    assert exported.returncode == 0, exported.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    for name in (*secrets, "MIRROR"):
        assert f"{name}=***" in plan_text.stdout
        assert f"build arg '{name}' " in done.stderr
    assert "move it to [build.secrets]" in done.stderr
    # The build really printed everything, and each line arrives whole with the value replaced.
    err = done.stderr
    assert "    | plain: *** *** ***\n" in err
    assert "    | " + "a" * 4100 + "***" + "b" * 300 + "\n" in err
    assert "    | split: ***|***\n" in err
    assert "    | failing with ***\n" in err
    assert 'warning: Empty continuation line found in: ARG DB_PASS="***"     SIGNING_KEY MY_VALUE MIRROR' in err
    assert "Error: stage 'boom', step 1 (RUN printf 'failing with %s\\n' \"***\" >&2; exit 3) failed" in err
    result = json.loads(report.read_text())
    assert [(s["stage"], s["status"]) for s in result["stages"]] == [("leak", "built"), ("boom", "failed")]
    assert summary.read_text().strip()

    outputs = {
        "plan": plan_text.stdout + plan_text.stderr,
        "plan --json": plan_json.stdout + plan_json.stderr,
        "export-bake": exported.stdout + exported.stderr,
        "bake file": bakefile.read_text(),
        "bake stdout": done.stdout,
        "bake stderr": done.stderr,
        "report": report.read_text(),
        "summary": summary.read_text(),
    }
    # Any 8 consecutive characters of a value would be a leak (the random parts make a chance
    # match impossible); the report is JSON, so its escaped form is checked too.
    for secret in (*secrets.values(), password):
        pieces = {secret[i : i + 8] for i in range(len(secret) - 7)}
        pieces |= {json.dumps(piece)[1:-1] for piece in pieces}
        for where, text in outputs.items():
            leaked = sorted(piece for piece in pieces if piece in text)
            assert not leaked, f"{where} shows {leaked}"
