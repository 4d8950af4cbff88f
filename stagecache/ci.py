"""Facts about the CI system stagecache runs in: the branch being built, and
where to write a job summary."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

# Most specific first: a pull/merge request's source branch, then the pushed branch.
_BRANCH_VARS = (
    "GITHUB_HEAD_REF",  # GitHub Actions, pull_request events
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",  # GitLab merge request pipelines
    "CI_COMMIT_BRANCH",  # GitLab branch pipelines
    "BUILDKITE_BRANCH",
    "CIRCLE_BRANCH",
    "BITBUCKET_BRANCH",
    "BRANCH_NAME",  # Jenkins multibranch
    "GIT_BRANCH",  # Jenkins git plugin ("origin/feature")
)


def detect_branch(env: Mapping[str, str], cwd: Path | None = None) -> tuple[str | None, str]:
    """The branch being built and where that came from, e.g. ("feature/x", "GITHUB_HEAD_REF").

    Order: CI variables, GitHub's ref name for branch pushes, then ``git`` in ``cwd``.
    Returns (None, reason) when there is no branch (detached HEAD, not a repository).
    """
    for var in _BRANCH_VARS:
        value = env.get(var, "").strip()
        if value:
            if var == "GIT_BRANCH" and value.startswith("origin/"):
                value = value[len("origin/") :]
            return value, var
    if env.get("GITHUB_REF_TYPE") == "branch" and env.get("GITHUB_REF_NAME"):
        return env["GITHUB_REF_NAME"], "GITHUB_REF_NAME"
    if cwd is not None:
        try:
            out = subprocess.run(
                ["git", "-C", str(cwd), "rev-parse", "--abbrev-ref", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None, "no CI branch variable and git is not available"
        name = out.stdout.strip()
        if out.returncode == 0 and name and name != "HEAD":
            return name, "git"
    return None, "no CI branch variable and no git branch"


def step_summary_path(env: Mapping[str, str]) -> Path | None:
    """GitHub Actions' job summary file, when running there."""
    value = env.get("GITHUB_STEP_SUMMARY", "").strip()
    return Path(value) if value else None
