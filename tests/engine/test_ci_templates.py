"""The GitHub Action (action.yml) and the GitLab CI template (ci/gitlab/stagecache.yml), run
the way their runners run them, on the real engine.

GitHub: each step's ``run:`` script goes to ``bash --noprofile --norc -eo pipefail FILE`` in
the workspace, with the variables a runner sets (a GITHUB_OUTPUT and GITHUB_STEP_SUMMARY file
per step, GITHUB_ACTION_PATH, GITHUB_EVENT_NAME/PATH, GITHUB_REF_NAME, RUNNER_TEMP...), and
``${{ ... }}`` expressions in ``env:`` and ``outputs:`` evaluated from the inputs, the event
and the steps' outputs. GitLab: the hidden job's ``script:`` lines in one ``sh -e``, then its
``after_script:`` in another, with its variables (as a job that extends it overrides them) and
the CI_* variables.

The action's checkout is a copy of this one; pip installs from a local wheelhouse
(PIP_NO_INDEX), the package index having filled it once (tests/test_packaging.py).
"""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.engine.conftest import Project
from tests.test_packaging import copy_source, wheel_cache, wheelhouse

REPOSITORY = "acme/app"
"""The repository the workflow runs in (github.repository)."""
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def evaluate(text: str, contexts: dict) -> str:
    """Substitute ``${{ a.b.c }}`` as GitHub does: a property path into the contexts; null is
    the empty string and booleans are ``true``/``false``. The action uses nothing else."""

    def one(match: re.Match[str]) -> str:
        path = match.group(1)
        assert re.fullmatch(r"[a-z]+(\.[A-Za-z0-9_-]+)+", path), f"not a property path: {path}"
        value: object = contexts
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return ""
        if isinstance(value, bool):
            return str(value).lower()
        return str(value)

    return EXPRESSION.sub(one, text)


def runner_env(tmp: Path, house: Path) -> dict[str, str]:
    """This process's environment less any CI's own variables, with pip pointed at the
    wheelhouse and the user cache folder (where a default local cache may go) in ``tmp``."""
    own = ("GITHUB_", "RUNNER_", "INPUT_", "CI_", "GITLAB_", "STAGECACHE_", "DOCKER_TLS", "DOCKER_CERT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    xdg = tmp / "xdg-cache"
    xdg.mkdir(exist_ok=True)
    env.update(CI="true", PIP_NO_INDEX="1", PIP_FIND_LINKS=str(house), XDG_CACHE_HOME=str(xdg))
    return env


@dataclass
class ActionRun:
    returncode: int
    log: str
    outputs: dict[str, str]
    summary: str


def parse_output_file(path: Path) -> dict[str, str]:
    """A GITHUB_OUTPUT file: ``name=value`` lines and ``name<<DELIMITER`` blocks."""
    values: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            values[name] = "\n".join(block)
        elif line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def run_action(
    *,
    action_path: Path,
    workspace: Path,
    runner_temp: Path,
    env: dict[str, str],
    inputs: dict[str, str],
    event_name: str,
    event: dict,
    ref_name: str,
    head_ref: str = "",
) -> ActionRun:
    """Run action.yml's composite steps as a GitHub runner does."""
    action = yaml.safe_load((action_path / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    declared = action["inputs"]
    assert set(inputs) <= set(declared), set(inputs) - set(declared)
    run_dir = runner_temp / f"_run-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir(parents=True)
    event_path = run_dir / "event.json"
    event_path.write_text(json.dumps(event))
    github = {
        "event": event,
        "event_name": event_name,
        "action_path": str(action_path),
        "workspace": str(workspace),
        "repository": REPOSITORY,
    }
    contexts: dict = {"github": github, "runner": {"temp": str(runner_temp)}, "steps": {}}
    contexts["inputs"] = {
        name: evaluate(inputs.get(name, str(spec.get("default", ""))), contexts) for name, spec in declared.items()
    }
    base = dict(env)
    base.update(
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_ACTION_PATH=str(action_path),
        GITHUB_EVENT_NAME=event_name,
        GITHUB_EVENT_PATH=str(event_path),
        GITHUB_REF_NAME=ref_name,
        GITHUB_REF_TYPE="branch",
        GITHUB_HEAD_REF=head_ref,
        GITHUB_REPOSITORY="acme/app",
        RUNNER_TEMP=str(runner_temp),
        RUNNER_OS="Linux",
    )
    log, summary, returncode = [], [], 0
    for i, step in enumerate(action["runs"]["steps"]):
        assert step["shell"] == "bash" and "if" not in step and "uses" not in step, step
        # Expressions only in env:, never in the script a shell reads.
        assert "${{" not in step["run"], step["name"]
        output, step_summary, script = (run_dir / f"{kind}-{i}" for kind in ("output", "summary", "script"))
        output.touch()
        step_summary.touch()
        script.write_text(step["run"])
        step_env = {**base, **{k: evaluate(str(v), contexts) for k, v in step.get("env", {}).items()}}
        step_env.update(GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(step_summary))
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=step_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        log.append(proc.stdout)
        summary.append(step_summary.read_text())
        if "id" in step:
            contexts["steps"][step["id"]] = {"outputs": parse_output_file(output)}
        if proc.returncode != 0:
            returncode = proc.returncode
            break
    outputs = {name: evaluate(spec["value"], contexts) for name, spec in action["outputs"].items()}
    return ActionRun(returncode, "".join(log), outputs, "".join(summary))


# The module's fixtures copy the repository, build a wheel and make the action's venv once:
# under pytest-xdist its tests run on one worker, or each worker would make them again.
pytestmark = pytest.mark.xdist_group("ci-templates")


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action's own checkout, as a runner downloads it: a copy of this repository."""
    return copy_source(tmp_path_factory.mktemp("action") / "stagecache")


@pytest.fixture(scope="module")
def house(request: pytest.FixtureRequest, checkout: Path) -> Path:
    """The wheelhouse pip installs from (PIP_NO_INDEX)."""
    return wheelhouse(wheel_cache(request.config), checkout)


@pytest.fixture(scope="module")
def wheel(checkout: Path, house: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the checkout, as `make dist` puts in dist/, for STAGECACHE_INSTALL."""
    out = tmp_path_factory.mktemp("wheel")
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index", "--find-links", str(house)]
    subprocess.run([*argv, "--wheel-dir", str(out), str(checkout)], check=True, capture_output=True, timeout=600)
    (found,) = out.glob("stagecache-*.whl")
    return found


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One job's RUNNER_TEMP for the module: the first run of the action makes its venv, the
    others reuse it, as a second use of the action in one job does."""
    return tmp_path_factory.mktemp("runner-temp")


def report_of(path: str) -> dict:
    return json.loads(Path(path).read_text())


def summary_row(stage: str, steps: int, cached: int) -> re.Pattern[str]:
    """A stage's row in the job summary, pushing nothing:
    | stage | steps | cached | hit | seconds | pushed | caches imported |."""
    hit = f"{round(100 * cached / steps)}%"
    return re.compile(rf"^\| {stage} \| {steps} \| {cached} \| {hit} \| [0-9.]+ \| - \| .+ \|$", re.M)


def test_action_on_a_push_bakes_and_reports(
    make_project, checkout: Path, house: Path, runner_temp: Path, tmp_path: Path
) -> None:
    project: Project = make_project("hello")
    push = {"ref": "refs/heads/main", "repository": {"fork": False}}

    def bake() -> ActionRun:
        return run_action(
            action_path=checkout,
            workspace=project.root,
            runner_temp=runner_temp,
            env=runner_env(tmp_path, house),
            inputs={},
            event_name="push",
            event=push,
            ref_name="main",
        )

    first = bake()
    assert first.returncode == 0, first.log
    report_path = runner_temp / "stagecache-report.json"
    assert f"stagecache bake --report {report_path}\n" in first.log
    assert first.outputs["report"] == str(report_path)
    assert first.outputs["hit-ratio"] == json.dumps(report_of(first.outputs["report"])["hit_ratio"])
    assert 0 <= float(first.outputs["hit-ratio"]) <= 1

    # The second bake of the same sources: every step from cache, and the outputs say so.
    second = bake()
    assert second.returncode == 0, second.log
    report = report_of(second.outputs["report"])
    assert (report["status"], report["steps_total"], report["steps_cached"]) == ("success", 6, 6)
    assert second.outputs == {"report": str(report_path), "hit-ratio": "1.0"}
    assert second.summary.startswith("### stagecache bake succeeded: 100% of steps from cache\n")
    assert summary_row("compile-image", 4, 4).search(second.summary), second.summary
    assert summary_row("runtime-image", 2, 2).search(second.summary), second.summary
    assert re.search(r"^\| \*\*total\*\* \| 6 \| 6 \| 100% \| ", second.summary, re.M), second.summary


def test_action_on_a_fork_pull_request_is_read_only(
    make_project, checkout: Path, house: Path, runner_temp: Path, tmp_path: Path
) -> None:
    project: Project = make_project("hello")
    fork_pr = {
        "number": 7,
        "pull_request": {"head": {"ref": "feature/x", "repo": {"fork": True, "full_name": "someone/app"}}},
    }

    def bake(**inputs: str) -> ActionRun:
        return run_action(
            action_path=checkout,
            workspace=project.root,
            runner_temp=runner_temp,
            env=runner_env(tmp_path, house),
            inputs={"target": "compile-image", "fail-under": "0", "args": "--jobs 1 --progress 'plain'", **inputs},
            event_name="pull_request",
            event=fork_pr,
            ref_name="7/merge",
            head_ref="feature/x",
        )

    run = bake(report="out/report.json")
    assert run.returncode == 0, run.log
    report_path = project.root / "out" / "report.json"
    assert (
        "stagecache: a pull request from a fork: read-only"
        " (caches are imported, none is exported, nothing is pushed).\n"
        f"stagecache bake --report {report_path} --target compile-image --fail-under 0 --read-only --jobs 1"
        " --progress plain\n"
    ) in run.log
    report = report_of(run.outputs["report"])
    assert run.outputs == {"report": str(report_path), "hit-ratio": json.dumps(report["hit_ratio"])}
    assert [(s["stage"], s["cache_to"], s["pushed"]) for s in report["stages"]] == [("compile-image", [], [])]
    assert summary_row("compile-image", 4, report["stages"][0]["steps_cached"]).search(run.summary), run.summary

    # A pull request between branches of this repository, itself a fork of another: it may
    # write (head.repo.fork is true here, and says nothing about where the pull request is from).
    own_pr = {
        "number": 8,
        "pull_request": {"head": {"ref": "feature/y", "repo": {"fork": True, "full_name": REPOSITORY}}},
    }
    run = run_action(
        action_path=checkout,
        workspace=project.root,
        runner_temp=runner_temp,
        env=runner_env(tmp_path, house),
        inputs={"target": "compile-image", "args": "--jobs 1"},
        event_name="pull_request",
        event=own_pr,
        ref_name="8/merge",
        head_ref="feature/y",
    )
    assert run.returncode == 0, run.log
    assert "a pull request from a fork" not in run.log and "--read-only" not in run.log

    # An explicit read-only: false wins over the fork default.
    run = bake(**{"read-only": "false", "args": ""})
    assert run.returncode == 0, run.log
    assert "a pull request from a fork" not in run.log
    command = f"stagecache bake --report {runner_temp / 'stagecache-report.json'} --target compile-image"
    assert f"{command} --fail-under 0 --read-write\n" in run.log
    assert report_of(run.outputs["report"])["stages"][0]["cache_to"] != []


def test_action_inputs_are_never_run_as_code(
    make_project, checkout: Path, house: Path, runner_temp: Path, tmp_path: Path
) -> None:
    project: Project = make_project("hello")
    markers = [tmp_path / f"pwned{i}" for i in range(4)]
    inputs = {
        "args": f"--cache-mode none; touch {markers[0]}",
        "target": f"$(touch {markers[1]})",
        "cache-mode": f"`touch {markers[2]}`",
        "fail-under": f"0 && touch {markers[3]}",
    }
    run = run_action(
        action_path=checkout,
        workspace=project.root,
        runner_temp=runner_temp,
        env=runner_env(tmp_path, house),
        inputs=inputs,
        event_name="push",
        event={"ref": "refs/heads/main"},
        ref_name="main",
    )
    assert run.returncode == 2, run.log
    assert [m for m in markers if m.exists()] == []
    # Each value reached stagecache as the words it is, quoted here as bash's %q quotes them.
    quoted = [
        subprocess.run(["bash", "-c", 'printf "%q" "$1"', "-", value], capture_output=True, text=True).stdout
        for value in (inputs["cache-mode"], inputs["target"], inputs["fail-under"])
    ]
    args = f"--cache-mode none\\; touch {markers[0]}"
    assert f" --cache-mode {quoted[0]} --target {quoted[1]} --fail-under {quoted[2]} {args}\n" in run.log
    assert "Error: " in run.log
    assert run.outputs == {"report": "", "hit-ratio": ""}

    # Unbalanced quotes: a clear error, nothing run.
    run = run_action(
        action_path=checkout,
        workspace=project.root,
        runner_temp=runner_temp,
        env=runner_env(tmp_path, house),
        inputs={"args": "--jobs '1"},
        event_name="push",
        event={"ref": "refs/heads/main"},
        ref_name="main",
    )
    assert run.returncode == 2, run.log  # as every other input error: an annotation and exit 2
    assert "::error::stagecache: the args input cannot be split into words: No closing quotation.\n" in run.log
    assert "stagecache bake" not in run.log


# --- GitLab ------------------------------------------------------------------------------------


@dataclass
class JobRun:
    returncode: int
    log: str
    artifacts: list[Path]
    dotenv: dict[str, str]


def run_gitlab_job(
    project_dir: Path, env: dict[str, str], variables: dict[str, str], ci: dict[str, str], tmp: Path
) -> JobRun:
    """Run the template's `.stagecache` job extended by a job that sets ``variables``, with the
    CI_* variables ``ci``, as a GitLab runner's shell does."""
    template = yaml.safe_load((ROOT / "ci" / "gitlab" / "stagecache.yml").read_text())
    assert [k for k in template if not k.startswith(".")] == []  # hidden jobs only: it adds no job by itself
    job = template[".stagecache"]
    assert set(variables) <= set(job["variables"]) | {"DOCKER_HOST"}, set(variables) - set(job["variables"])
    job_vars = {k: str(v) for k, v in job["variables"].items()}
    job_vars.update(variables)
    job_env = {**env, **ci, **job_vars, "GITLAB_CI": "true", "CI_PROJECT_DIR": str(project_dir), "TMPDIR": str(tmp)}
    log = []
    for part in ("script", "after_script"):  # after_script: a shell of its own, whatever script did
        proc = subprocess.run(
            ["sh", "-e", "-c", "\n".join(job[part])],
            cwd=project_dir,
            env=job_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        log.append(proc.stdout)
        if part == "script":
            returncode = proc.returncode
        else:
            assert proc.returncode == 0, proc.stdout
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    paths = [project_dir / string.Template(p).substitute(job_vars) for p in artifacts["paths"]]
    dotenv_file = project_dir / artifacts["reports"]["dotenv"]
    dotenv = dict(line.split("=", 1) for line in dotenv_file.read_text().splitlines()) if dotenv_file.exists() else {}
    return JobRun(returncode, "".join(log), paths, dotenv)


# A runner whose shell has Docker (no Docker-in-Docker service): the documented overrides. (A
# docker-container builder would pull moby/buildkit, which this offline engine cannot.)
OWN_DOCKER = {
    "DOCKER_HOST": "",
    "DOCKER_TLS_VERIFY": "",
    "DOCKER_CERT_PATH": "",
    "STAGECACHE_CONTAINER_BUILDER": "false",
}


def gitlab_ci(**extra: str) -> dict[str, str]:
    return {
        "CI": "true",
        "CI_JOB_ID": str(uuid.uuid4().int % 10**9),
        "CI_PROJECT_ID": "100",
        "CI_SERVER_URL": "https://gitlab.invalid",
        **extra,
    }


def test_gitlab_template_on_a_branch_pushes_and_reports(make_project, wheel: Path, house: Path, tmp_path: Path) -> None:
    project: Project = make_project("hello")
    project.configure("registry")
    ci = gitlab_ci(CI_PIPELINE_SOURCE="push", CI_COMMIT_BRANCH="main", CI_COMMIT_REF_NAME="main")
    job = run_gitlab_job(
        project.root, runner_env(tmp_path, house), {**OWN_DOCKER, "STAGECACHE_INSTALL": str(wheel)}, ci, tmp_path
    )
    assert job.returncode == 0, job.log
    assert "\nstagecache bake --report stagecache-report.json\n" in job.log
    assert job.artifacts == [project.root / "stagecache-report.json"]
    report = report_of(str(job.artifacts[0]))
    assert report["status"] == "success" and report["cache_mode"] == "registry"
    assert [bool(s["pushed"]) for s in report["stages"]] == [True, True]
    assert job.dotenv == {"STAGECACHE_HIT_RATIO": json.dumps(report["hit_ratio"])}


def test_gitlab_template_on_a_fork_merge_request_is_read_only(
    make_project, wheel: Path, house: Path, tmp_path: Path
) -> None:
    project: Project = make_project("hello")
    project.configure("registry")
    ci = gitlab_ci(
        CI_PIPELINE_SOURCE="merge_request_event",
        CI_MERGE_REQUEST_SOURCE_BRANCH_NAME="feature/x",
        CI_MERGE_REQUEST_SOURCE_PROJECT_ID="200",
        CI_MERGE_REQUEST_PROJECT_ID="100",
    )
    variables = {
        **OWN_DOCKER,
        "STAGECACHE_INSTALL": str(wheel),
        "STAGECACHE_TARGET": "compile-image",
        "STAGECACHE_FAIL_UNDER": "0",
        "STAGECACHE_ARGS": "--jobs 1 --progress 'plain'",
        "STAGECACHE_REPORT": "report dir/r.json",
    }
    job = run_gitlab_job(project.root, runner_env(tmp_path, house), variables, ci, tmp_path)
    assert job.returncode == 0, job.log
    assert (
        "stagecache: a merge request from a fork: read-only"
        " (caches are imported, none is exported, nothing is pushed).\n"
        "stagecache bake --report 'report dir/r.json' --target compile-image --fail-under 0 --read-only"
        " --jobs 1 --progress plain\n"
    ) in job.log
    report = report_of(str(job.artifacts[0]))
    assert [(s["stage"], s["cache_to"], s["pushed"]) for s in report["stages"]] == [("compile-image", [], [])]
    assert job.dotenv == {"STAGECACHE_HIT_RATIO": json.dumps(report["hit_ratio"])}


def test_gitlab_template_values_are_never_run_as_code(make_project, wheel: Path, house: Path, tmp_path: Path) -> None:
    project: Project = make_project("hello")
    markers = [tmp_path / f"pwned{i}" for i in range(3)]
    variables = {
        **OWN_DOCKER,
        "STAGECACHE_INSTALL": str(wheel),
        "STAGECACHE_ARGS": f"--cache-mode none; touch {markers[0]}",
        "STAGECACHE_TARGET": f"$(touch {markers[1]})",
        "STAGECACHE_CACHE_MODE": f"`touch {markers[2]}`",
    }
    ci = gitlab_ci(CI_PIPELINE_SOURCE="push", CI_COMMIT_BRANCH="main")
    job = run_gitlab_job(project.root, runner_env(tmp_path, house), variables, ci, tmp_path)
    assert job.returncode == 2, job.log
    assert [m for m in markers if m.exists()] == []
    assert (
        f"stagecache bake --report stagecache-report.json --cache-mode '`touch {markers[2]}`'"
        f" --target '$(touch {markers[1]})' --cache-mode 'none;' touch {markers[0]}\n"
    ) in job.log
    assert job.dotenv == {}

    # Without STAGECACHE_INSTALL the job says what to set.
    del variables["STAGECACHE_INSTALL"]
    job = run_gitlab_job(project.root, runner_env(tmp_path, house), variables, ci, tmp_path)
    assert job.returncode == 1, job.log
    assert (
        "stagecache: set STAGECACHE_INSTALL to what pip should install,"
        ' e.g. "git+${CI_SERVER_URL}/OWNER/stagecache.git@vX.Y.Z".\n'
    ) in job.log


def test_readme_ci_examples_use_what_the_action_and_the_template_declare() -> None:
    """The README's CI blocks name only inputs, outputs and variables that exist (no engine needed)."""
    readme = (ROOT / "README.md").read_text()
    assert "pip install stagecache" not in readme  # not published: that command fails
    section = readme.split("\n## Using stagecache in CI\n", 1)[1].split("\n## ", 1)[0]
    blocks = [yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```$", section, re.M | re.S)]
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    template = yaml.safe_load((ROOT / "ci" / "gitlab" / "stagecache.yml").read_text())

    github = [b for b in blocks if "jobs" in b]
    steps = [s for b in github for job in b["jobs"].values() for s in job["steps"]]
    ours = [s for s in steps if s.get("uses", "").startswith("OWNER/stagecache@")]
    assert [s["uses"] for s in ours] == ["OWNER/stagecache@vX.Y.Z"]
    assert set(ours[0].get("with", {})) <= set(action["inputs"])
    used_outputs = set(re.findall(r"steps\.stagecache\.outputs\.([A-Za-z0-9_-]+)", section))
    assert used_outputs and used_outputs <= set(action["outputs"])

    gitlab = [b for b in blocks if "include" in b]
    assert [b["include"] for b in gitlab] == [
        [{"project": "OWNER/stagecache", "ref": "vX.Y.Z", "file": "ci/gitlab/stagecache.yml"}]
    ]
    jobs = [job for b in gitlab for name, job in b.items() if name != "include"]
    assert [job["extends"] for job in jobs] == [".stagecache"]
    assert set(jobs[0]["variables"]) <= set(template[".stagecache"]["variables"])
