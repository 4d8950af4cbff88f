"""Domain exceptions. Each carries the process exit code the CLI uses.

The CLI converts these into one ``Error: ...`` paragraph on stderr and the
exit code, at one place (``stagecache.cli``). Library code raises; it never
prints or exits.
"""

from __future__ import annotations


class StagecacheError(Exception):
    """Base class: a user-facing error with a one-paragraph message."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BuildFailed(StagecacheError):
    """A build step failed (exit 1)."""

    exit_code = 1


class UsageError(StagecacheError):
    """Bad flags, bad config, bad Dockerfile, unknown target (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """stagecache.toml is missing, malformed or invalid (exit 2)."""


class DockerfileError(UsageError):
    """The Dockerfile is missing, does not parse, or names no such stage (exit 2)."""

    frontend_sensitive = False
    """Set when a frontend older than 1.11 would have read the line without this error."""


class EnvironmentProblem(StagecacheError):
    """The machine cannot do what was asked: no docker, daemon down, a builder
    that cannot export the requested cache (exit 3)."""

    exit_code = 3


class CacheGateFailed(StagecacheError):
    """The build succeeded but the cache-hit ratio fell under --fail-under (exit 4)."""

    exit_code = 4


class RegistryError(StagecacheError):
    """A registry or network operation failed: push, pull, cache export (exit 5)."""

    exit_code = 5


class Interrupted(StagecacheError):
    """SIGINT (exit 130) or SIGTERM (exit 143) stopped the run."""

    def __init__(self, signum: int) -> None:
        import signal

        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}; the running build was stopped")
        self.exit_code = 128 + signum


class Cancelled(StagecacheError):
    """A build stopped because another stage failed and ``on_failure = "cancel"``."""

    exit_code = 1

    def __init__(self) -> None:
        super().__init__("cancelled because another stage failed")
