"""The one module that runs docker.

python-on-whales does what it does well here: it builds the ``DockerClient``
(docker binary, host, context, config dir), inspects builders and the daemon,
pulls, pushes and removes images. Builds are the one place it falls short:
``buildx.build(stream_logs=True)`` cannot stream ``--progress=rawjson``
unchanged, does not stop buildx when the generator is closed, and its
exceptions carry the whole argv (build-arg values included). So builds run
here, from the client's own ``docker_cmd``, as a process group of their own that stagecache
stops on SIGINT, SIGTERM or SIGHUP, and that dies with stagecache even when it is killed.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from stagecache import transient
from stagecache.errors import Cancelled, EnvironmentProblem, Interrupted, RegistryError, StagecacheError

if TYPE_CHECKING:  # pragma: no cover
    from python_on_whales import DockerClient

    from stagecache.plan import Command

CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"


@dataclass(frozen=True)
class BuilderInfo:
    """What the selected buildx builder can do."""

    name: str
    driver: str
    containerd_store: bool
    buildkit_version: str = ""

    @property
    def can_export_cache(self) -> bool:
        """Whether ``type=registry`` / ``type=local`` cache export works on this builder."""
        return self.driver != "docker" or self.containerd_store


@dataclass(frozen=True)
class EngineInfo:
    """Versions, for reports and benchmarks."""

    server_version: str
    buildx_version: str
    storage_driver: str
    containerd_store: bool
    context: str = ""
    """The docker context the engine was reached through (``default`` for DOCKER_HOST)."""
    endpoint: str = ""
    """Its docker endpoint, e.g. ``unix:///var/run/docker.sock``."""
    root_dir: str = ""
    """The daemon's data root (DockerRootDir): two engines on one machine differ there."""

    @property
    def store(self) -> str:
        """``containerd`` or ``classic``: the daemon's image store."""
        return "containerd" if self.containerd_store else "classic"

    @property
    def named(self) -> str:
        """The engine, as messages name it: ``context 'default' (unix:///var/run/docker.sock)``."""
        return f"context '{self.context or 'default'}'" + (f" ({self.endpoint})" if self.endpoint else "")


F = TypeVar("F", bound=Callable[..., Any])


def _timed(method: F) -> F:
    """Count the call's wall time into ``Runner.docker_seconds``. Calls that overlap (nested,
    or from parallel builds) count once: the measure is the time docker was busy."""

    @functools.wraps(method)
    def wrapper(self: Runner, *args: Any, **kwargs: Any) -> Any:
        with self._clock:
            if self._active == 0:
                self._busy_since = time.perf_counter()
            self._active += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            with self._clock:
                self._active -= 1
                if self._active == 0:
                    self.docker_seconds += time.perf_counter() - self._busy_since

    return wrapper  # type: ignore[return-value]


def _docker_binary() -> str | None:
    return shutil.which("docker")


def _require_docker() -> str:
    binary = _docker_binary()
    if binary is None:
        raise EnvironmentProblem(
            "the docker CLI was not found on PATH. Install Docker with the buildx plugin, or add the "
            "folder that holds `docker` to PATH."
        )
    return binary


class Runner:
    """Runs docker for stagecache. Inject one; there is no global client."""

    def __init__(
        self, client: DockerClient | None = None, env: Mapping[str, str] | None = None, context: str = ""
    ) -> None:
        if client is not None and context:
            raise ValueError("give the client its context (DockerClient(context=...)), not the Runner")
        self._client = client
        self._injected = client is not None
        self.env = dict(os.environ if env is None else env)
        self.context = context
        """The docker context of every docker command (``docker --context``); empty: docker's own
        choice (DOCKER_CONTEXT, DOCKER_HOST, the current context)."""
        self._lock = threading.RLock()
        """Reentrant: the signal handler (cancel) runs in the main thread, which may hold the lock
        at that moment (starting a bake session's build); a plain Lock deadlocked there."""
        self._info_lock = threading.Lock()
        self._engine: EngineInfo | None = None
        self._frontends: dict[str, bool] = {}
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._cancelled: dict[int, int] = {}
        self._stop: int | None = None
        """Set by cancel(): the signal (0 = another stage failed). Sticky until reset(), so a
        build that had not started its process yet never starts it."""
        self.docker_seconds = 0.0
        """Wall time during which docker was running (builds, pulls, pushes, inspections): what
        is not stagecache's own overhead."""
        self._clock = threading.Lock()
        self._active = 0
        self._busy_since = 0.0

    @property
    def client(self) -> DockerClient:
        """The python-on-whales client (created on first use)."""
        if self._client is None:
            _require_docker()
            from python_on_whales import DockerClient

            self._client = DockerClient(context=self.context or None)
        return self._client

    def with_context(self, context: str) -> Runner:
        """A Runner for the engine of docker context ``context`` (this one when it is the same).
        A Runner made around a given client (or a subclass, such as a test's scripted one) has
        no other engine to switch to: ValueError, rather than a Runner on a real engine."""
        if context == self.context:
            return self
        if self._injected or type(self) is not Runner:
            raise ValueError(f"this {type(self).__name__} cannot switch to docker context '{context}'")
        return Runner(env=self.env, context=context)

    @property
    def docker_cmd(self) -> list[str]:
        """The docker command line prefix the client uses (binary, --host, --config...)."""
        if self._client is None:
            # A default client's prefix is the docker binary (and the context). Not creating the
            # client for it keeps python-on-whales' import (about 0.3 s) off the path of a build.
            return [_require_docker(), *(("--context", self.context) if self.context else ())]
        return [str(part) for part in self.client.client_config.docker_cmd]

    def _cli(self, purpose: str, *args: str, stdin: bytes | None = None) -> str:
        """Run ``docker ARGS`` and return its stdout: the one way stagecache runs a docker
        command that is not a build. A failure becomes a domain error that says what
        stagecache was doing and what docker said, never the argv (it may hold secrets).
        The standard library runs it: python-on-whales' import (pydantic among it) would cost
        a bake that asks the engine one question before building more than the question."""
        env = dict(self.env)
        if args[:1] == ("buildx",):
            env["DOCKER_CLI_EXPERIMENTAL"] = "enabled"
        try:
            # An empty stdin when there is nothing to send: no docker command here may read the terminal.
            done = subprocess.run(
                [*_DEATH_PACT, *self.docker_cmd, *args], input=stdin or b"", capture_output=True, env=env, check=False
            )
        except OSError as exc:
            raise EnvironmentProblem(f"could not {purpose}: cannot run docker ({exc.strerror}).") from None
        if done.returncode != 0:
            raise _domain_error(purpose, done.stderr)
        return done.stdout.decode("utf-8", "replace").strip()

    @contextlib.contextmanager
    def _api(self, purpose: str) -> Iterator[None]:
        """For python-on-whales' typed calls: the same conversion as :meth:`_cli`."""
        from python_on_whales.exceptions import DockerException

        try:
            yield
        except DockerException as exc:
            raise _domain_error(purpose, exc.stderr) from None

    # --- inspection ----------------------------------------------------------

    @_timed
    def engine_info(self) -> EngineInfo:
        """Daemon and buildx versions; raises EnvironmentProblem when the daemon is down.
        Asked once per Runner (the two docker calls run side by side)."""
        with self._info_lock:
            if self._engine is None:
                self._engine = self._engine_info()
            return self._engine

    def _engine_info(self) -> EngineInfo:
        from concurrent.futures import ThreadPoolExecutor

        from python_on_whales.exceptions import DockerException

        client = self.client
        with ThreadPoolExecutor(max_workers=2) as pool:
            buildx_future = pool.submit(client.buildx.version)
            context_future = pool.submit(self._context)
            try:
                info = client.info()
            except DockerException as exc:
                said = _first_line(exc.stderr) or "docker info failed"
                if self.context:
                    raise EnvironmentProblem(
                        f"the engine of docker context '{self.context}' is not reachable ({said}). Check that the "
                        f"context exists (`docker context ls`) and that its engine runs (`docker --context "
                        f"{self.context} info`), or choose another with --context or [project].docker_context."
                    ) from None
                raise EnvironmentProblem(f"the Docker daemon is not reachable ({said}). {_START_DOCKER}") from None
            try:
                buildx = buildx_future.result()
            except DockerException:
                raise EnvironmentProblem(
                    "docker buildx is not installed. Install the buildx plugin (Debian: docker-buildx, "
                    "Docker's packages: docker-buildx-plugin) and try again."
                ) from None
            context, endpoint = context_future.result()
        containerd = any(CONTAINERD_SNAPSHOTTER in str(v) for pair in (info.driver_status or []) for v in pair)
        buildx_version = buildx.get("version", "") if isinstance(buildx, dict) else str(buildx)
        return EngineInfo(
            server_version=info.server_version or "",
            buildx_version=buildx_version,
            storage_driver=info.driver or "",
            containerd_store=containerd,
            context=context,
            endpoint=endpoint,
            root_dir=str(info.docker_root_dir or ""),
        )

    def _context(self) -> tuple[str, str]:
        """The name and docker endpoint of the context docker uses here (``docker context
        inspect`` of the current one: ``--context``, else DOCKER_CONTEXT, else DOCKER_HOST as
        ``default``, else the current context); ("", "") when docker cannot say."""
        import json

        try:
            data = json.loads(self._cli("read the docker context", "context", "inspect", "--format", "{{json .}}"))
        except (StagecacheError, ValueError):
            return "", ""
        host = (((data.get("Endpoints") or {}).get("docker") or {}).get("Host")) if isinstance(data, dict) else ""
        return str(data.get("Name") or ""), str(host or "")

    @_timed
    def builder_info(self, builder: str = "") -> BuilderInfo:
        """Inspect the selected builder (empty = the current one)."""
        from concurrent.futures import ThreadPoolExecutor

        from python_on_whales.exceptions import DockerException

        client = self.client
        with ThreadPoolExecutor(max_workers=1) as pool:
            inspect = pool.submit(client.buildx.inspect, builder or None)
            engine = self.engine_info()
        try:
            b = inspect.result()
        except DockerException as exc:
            raise EnvironmentProblem(
                f"buildx builder '{builder or 'current'}' cannot be used: "
                f"{_first_line(exc.stderr)}. List builders with `docker buildx ls`, or set "
                "[project].builder to an existing one."
            ) from None
        version = ""
        for node in b.nodes or []:
            version = getattr(node, "version", "") or version
        return BuilderInfo(
            name=b.name or builder or "default",
            driver=b.driver or "",
            containerd_store=engine.containerd_store,
            buildkit_version=version,
        )

    # --- images --------------------------------------------------------------

    @_timed
    def pull(self, ref: str) -> str | None:
        """Pull ``ref``. Returns None on success, else the reason (a missing image is normal);
        raises EnvironmentProblem when the daemon is not there at all."""
        try:
            self._cli(f"pull {ref}", "pull", "--quiet", ref)
            return None
        except StagecacheError as exc:
            if _DAEMON_DOWN in exc.message:
                raise
            return exc.message

    def push(self, command: Command, on_retry: Callable[[str], None] | None = None) -> int:
        """Run a planned ``docker push``, like a build (own process group, stopped with
        stagecache, no python-on-whales import), trying again after a transient registry
        failure (see stagecache.transient); returns the number of retries. Raises
        RegistryError naming the ref (never the argv)."""
        ref = command.argv[-1]
        attempt = 1
        while True:
            out: list[str] = []
            if self.run(command, out.append) == 0:
                return attempt - 1
            said = "".join(out)
            why = transient.reason(said)
            if why is None or attempt >= transient.ATTEMPTS:
                raise RegistryError(f"pushing {ref} failed: {_first_line(said) or 'docker push failed'}.")
            if on_retry is not None:
                on_retry(f"pushing {ref} again after a transient registry error ({why})")
            transient.pause(attempt)
            attempt += 1

    @_timed
    def has_network(self, name: str) -> bool:
        """Whether the engine has the network ``name`` (dockerd --bridge=none has no "bridge")."""
        try:
            self._cli(f"inspect the network {name}", "network", "inspect", "--format", "{{.Name}}", name)
        except EnvironmentProblem:
            return False
        return True

    @_timed
    def image_exists(self, ref: str) -> bool:
        """Whether the local engine has an image called ``ref``."""
        with self._api(f"look for the image {ref}"):
            return self.client.image.exists(ref)

    @_timed
    def remove_images(self, refs: Iterable[str], force: bool = True) -> None:
        """Remove local images by reference or id; missing ones are ignored, and so, without
        ``force``, are images a container still uses."""
        from concurrent.futures import ThreadPoolExecutor

        def remove(ref: str) -> None:
            try:
                self._cli(f"remove the image {ref}", "image", "rm", *(["--force"] if force else []), ref)
            except EnvironmentProblem as exc:
                text = exc.message.lower()
                # Already gone, or still used by a container: what this method is allowed to skip.
                if "no such image" not in text and "conflict" not in text and "is being used" not in text:
                    raise

        # With the containerd image store each delete takes about a second of dockerd's
        # time, and deletes run concurrently: remove them side by side.
        refs = list(dict.fromkeys(refs))
        with ThreadPoolExecutor(max_workers=min(8, len(refs) or 1)) as pool:
            list(pool.map(remove, refs))

    @_timed
    def prune_build_cache(self, builder: str = "") -> None:
        """Drop the builder's whole BuildKit cache."""
        self._cli(
            "prune the build cache", "buildx", "prune", "--all", "--force", *(["--builder", builder] if builder else [])
        )

    @_timed
    def local_tags(self, repository: str) -> list[str]:
        """Local image tags of ``repository`` (``repo:tag`` strings)."""
        # One `docker image ls REPO` call: client.image.list() inspects every image on the engine.
        out = self._cli(
            f"list the images of {repository}", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository
        )
        return [line for line in out.splitlines() if line and not line.endswith(":<none>")]

    @_timed
    def dangling_images(self) -> set[str]:
        """Ids of the engine's untagged images: those whose tag a newer build or pull took."""
        out = self._cli("list untagged images", "image", "ls", "--quiet", "--no-trunc", "--filter", "dangling=true")
        return set(out.split())

    def remove_untagged(self, before: set[str]) -> None:
        """Delete the untagged images that are not in ``before`` (an earlier
        :meth:`dangling_images`): those a rebuild or a pull has since taken the tag from.
        Images a container still uses are kept."""
        self.remove_images(self.dangling_images() - before, force=False)

    def remove_repositories(self, repositories: Iterable[str]) -> None:
        """Remove every local tag of ``repositories``."""
        self.remove_images([t for r in repositories for t in self.local_tags(r)])

    @_timed
    def simulate_fresh_runner(self, repositories: Iterable[str], builder: str = "") -> None:
        """Make the engine look like a new CI runner for a project: BuildKit's
        cache pruned, every image of ``repositories`` removed, base images kept."""
        self.prune_build_cache(builder)
        self.remove_repositories(repositories)

    # --- builds --------------------------------------------------------------

    @_timed
    def bake_print(self, definition: str) -> dict:
        """What ``docker buildx bake --print`` makes of a bake file (attributes this buildx
        does not know are dropped there), as a dict."""
        import json

        return json.loads(
            self._cli("read the bake definition", "buildx", "bake", "--file", definition, "--print") or "{}"
        )

    # A Dockerfile that only frontend 1.11+ accepts: before 1.11, 'ARG BUILDPLATFORM' with no value
    # set BUILDPLATFORM to "", and the FROM fails with 'failed to parse platform : "" is an invalid
    # OS component' (seen on dockerd 26.1.5 / BuildKit 0.13). It builds nothing: scratch, no step.
    _FRONTEND_PROBE = b"ARG BUILDPLATFORM\nFROM --platform=$BUILDPLATFORM scratch\n"

    @_timed
    def builtin_frontend_is_current(self, builder: str = "") -> bool:
        """Whether the builder's built-in Dockerfile frontend follows the rules of frontend 1.11
        and later (see stagecache.frontend). Asks the builder itself with a build of nothing, as
        its version is not always known (Debian's dockerd reports BuildKit ``v0.0.0+unknown``)."""
        if builder not in self._frontends:
            self._frontends[builder] = self._probe_frontend(builder)
        return self._frontends[builder]

    def _probe_frontend(self, builder: str) -> bool:
        import tempfile

        where = ["--builder", builder] if builder else []
        with tempfile.TemporaryDirectory(prefix="stagecache-probe-") as context:
            try:
                self._cli(
                    "ask the builder which Dockerfile frontend it runs",
                    *("buildx", "build", "--progress=plain", "--file", "-", *where, context),
                    stdin=self._FRONTEND_PROBE,
                )
            except EnvironmentProblem as exc:
                if "failed to parse platform" in exc.message or "invalid os component" in exc.message.lower():
                    return False
                raise EnvironmentProblem(
                    f"{exc.message} Add '# syntax=docker/dockerfile:1' as the first line of the Dockerfile to "
                    "choose the frontend yourself."
                ) from None
        return True

    @property
    def cancelled(self) -> bool:
        """Whether cancel() was called since the last reset(): no new build starts."""
        return self._stop is not None

    def reset(self) -> None:
        """Allow builds again (a new bake with the same runner)."""
        with self._lock:
            self._stop = None

    def cancel(self, signum: int = 0) -> None:
        """Stop every build running now (from any thread), and refuse to start another until
        reset(): each one's ``run`` raises Interrupted(signum), or Cancelled when ``signum`` is
        0 (another stage failed)."""
        with self._lock:
            if self._stop is None or (signum and not self._stop):
                self._stop = signum
            procs = list(self._running.values())
            for proc in procs:
                self._cancelled.setdefault(proc.pid, signum)
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """While the block runs, SIGINT, SIGTERM and SIGHUP (a closed terminal, a CI job being
        stopped) cancel every build, running or about to start; the block then ends as it would
        after a failure, and Interrupted is raised here if nothing in it raised it already.
        So is a ``cancel(signum)`` made during the block by anything else (a caller's own
        handler, a timer): a bake it stopped between two builds did not succeed.
        Outside the main thread signals are the caller's business."""
        received: list[int] = []

        def on_signal(signum: int, _frame: object) -> None:
            received.append(signum)
            self.cancel(signum)

        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in _STOP_SIGNALS:
                previous[sig] = signal.signal(sig, on_signal)
        try:
            yield
        finally:
            for num, handler in previous.items():
                signal.signal(num, handler)
        signum = received[0] if received else self._stop
        if signum:  # 0 or None: no signal (a failed stage's cancel() is not an interruption)
            raise Interrupted(signum)

    @_timed
    def run(self, command: Command, on_output: Callable[[str], None]) -> int:
        """Run one planned command, streaming its merged stdout/stderr to ``on_output``.

        The process gets its own process group (so that a Ctrl-C in the terminal reaches
        stagecache, which stops the build in order), and dies with stagecache however
        stagecache ends: it is started under ``setpriv --pdeathsig TERM`` where util-linux has
        it (Linux), so a SIGKILL to stagecache stops it too. After cancel(), raises Cancelled
        or Interrupted instead of starting it, or once it was stopped.
        """
        argv = [*_DEATH_PACT, *self.docker_cmd, *command.argv[1:]]
        env = dict(self.env)
        env.update(dict(command.env))
        with self._lock:
            if self._stop is not None:
                raise Interrupted(self._stop) if self._stop else Cancelled()
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise EnvironmentProblem(f"cannot run {argv[0]}: {exc.strerror}.") from None
            self._running[proc.pid] = proc
            if self._stop is not None:  # cancel() ran in this thread (a signal) while Popen started it
                self._cancelled.setdefault(proc.pid, self._stop)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        try:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            assert proc.stdout is not None
            fd = proc.stdout.fileno()
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            while True:
                # A signal that another thread took (the Go runtime of the dockerfile module has
                # several) runs its Python handler only when the main thread runs Python code: in a
                # bake session that is this loop, so it wakes up even when the build prints nothing.
                if not poller.poll(WAKE_UP * 1000):
                    continue
                try:
                    data = os.read(fd, 65536)
                except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                    continue
                if not data:
                    break
                on_output(decoder.decode(data))
            tail = decoder.decode(b"", final=True)
            if tail:
                on_output(tail)
            rc = proc.wait()
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            with self._lock:
                self._running.pop(proc.pid, None)
                cancelled = self._cancelled.pop(proc.pid, None)
        if cancelled is not None:
            # The leader is gone; buildx plugin processes in its group may not be.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            raise Interrupted(cancelled) if cancelled else Cancelled()
        return rc


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
WAKE_UP = 0.2
"""Seconds a thread that waits for a build blocks at most, so that a signal is acted on soon."""
_DEATH_PACT: tuple[str, ...] = (
    ("setpriv", "--pdeathsig", "TERM") if sys.platform == "linux" and shutil.which("setpriv") else ()
)
"""A prefix that makes a build die with stagecache (util-linux's setpriv sets PR_SET_PDEATHSIG
and execs the command). Where it is missing, a SIGKILL to stagecache leaves the build running."""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Make sure nothing of the build outlives us."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


_DAEMON_DOWN = "the Docker daemon is not reachable"
_START_DOCKER = (
    "Start Docker (for example `sudo systemctl start docker`), or point DOCKER_HOST (or `docker context use`) "
    "at a running engine, or set [project].builder to a builder that reaches one; then try again."
)


def _domain_error(purpose: str, stderr: object) -> StagecacheError:
    """What a failed docker command means for stagecache: the daemon is down (exit 3), a
    registry refused (exit 5), or docker could not do it (exit 3); never its argv."""
    said = _first_line(stderr) or "no error text"
    low = said.lower()
    if "cannot connect to the docker daemon" in low or "is the docker daemon running" in low:
        return EnvironmentProblem(f"could not {purpose}: {_DAEMON_DOWN} ({said}). {_START_DOCKER}")
    if "permission denied" in low and ("docker.sock" in low or "docker daemon socket" in low):
        return EnvironmentProblem(
            f"could not {purpose}: this user may not use the Docker daemon ({said}). Add the user to the "
            "`docker` group (then log in again), or point DOCKER_HOST at an engine this user may use."
        )
    if any(m in low for m in ("unauthorized", "denied", "authentication required", "toomanyrequests")):
        return RegistryError(f"could not {purpose}: the registry refused ({said}).")
    return EnvironmentProblem(f"could not {purpose}: {said}.")


def _first_line(text: object) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [ln.strip() for ln in str(text or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or [""])[-1]
