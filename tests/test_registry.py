"""The registry client and docker credentials: where credentials are read from, and where
they are sent (never to another host, never in clear text off the machine). HTTP tests
talk to real servers on loopback (tests/loopback_http.py); helper tests run real helper
programs written into a temp folder on PATH."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import stagecache.registry as registry
from stagecache.errors import RegistryError
from stagecache.registry import RegistryClient, docker_credentials
from tests.conftest import ROOT
from tests.loopback_http import LoopbackServer, Reply, Responder, Seen

USER, PASSWORD, TOKEN = "ci", "hunter2-password", "tok-5ecret-b3arer"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(), TOKEN)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must reach the loopback servers, not a proxy from the CI environment."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def serve() -> Iterator:
    """Factory: serve(respond, host="127.0.0.1") -> a started LoopbackServer; all stopped afterwards."""
    started: list[LoopbackServer] = []

    def make(respond: Responder, host: str = "127.0.0.1") -> LoopbackServer:
        server = LoopbackServer(host, respond).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def tags_json(*tags: str) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps({"name": "team/app", "tags": list(tags)}).encode()


def leaked(seen: list[Seen]) -> list[str]:
    """Every request line or header that carries a credential or the token."""
    return [
        line
        for s in seen
        for line in s.raw().splitlines()
        if line.lower().startswith("authorization:") or any(secret in line for secret in SECRETS)
    ]


def challenge(kind: str, token_url: str) -> str:
    if kind == "basic":
        return 'Basic realm="registry"'
    return f'Bearer realm="{token_url}",service="registry"'


# -- redirects -----------------------------------------------------------------------------------


def registry_redirecting_to(kind: str, code: int, target: str | None, token_host: str | None = None) -> Responder:
    """A registry that challenges (basic or bearer, its token endpoint on itself unless
    ``token_host``), then, once authorized, redirects every /v2/ request with ``code`` to the
    same path on ``target`` (or on itself under /moved when ``target`` is None)."""
    state: dict[str, str] = {}

    def respond(seen: Seen) -> Reply:
        auth = seen.header("Authorization")
        if seen.path.startswith("/token"):
            if auth != BASIC:
                return 401, {}, b""
            return 200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN}).encode()
        ok = auth == BASIC if kind == "basic" else auth == f"Bearer {TOKEN}"
        if not ok:
            token_url = f"http://{token_host or state['self']}/token"
            return 401, {"WWW-Authenticate": challenge(kind, token_url)}, b""
        if seen.path.startswith("/v2/moved/"):
            return tags_json("1.0")
        where = f"http://{target}{seen.path}" if target else seen.path.replace("/v2/", "/v2/moved/", 1)
        return code, {"Location": where}, b""

    respond.state = state  # type: ignore[attr-defined]
    return respond


@pytest.mark.parametrize("kind", ["basic", "bearer"])
@pytest.mark.parametrize("code", [301, 302, 307])
def test_a_redirect_to_another_host_never_carries_the_credentials(serve, kind: str, code: int) -> None:
    other = serve(lambda seen: tags_json("stolen"), host="127.0.0.2")
    respond = registry_redirecting_to(kind, code, other.addr)
    reg = serve(respond)
    respond.state["self"] = reg.addr

    RegistryClient(reg.addr, credentials=(USER, PASSWORD)).tags("team/app")

    assert any(s.header("Authorization") for s in reg.requests), "the registry itself got the credentials"
    assert other.requests, "the redirect was followed"
    assert leaked(other.requests) == []


def test_an_upload_redirected_to_another_host_never_carries_the_credentials(serve) -> None:
    """check_push POSTs; a 307 keeps the method and body, never the Authorization header."""
    other = serve(lambda seen: (202, {"Location": "/v2/team/app/blobs/uploads/u1"}, b""), host="127.0.0.2")
    respond = registry_redirecting_to("basic", 307, other.addr)
    reg = serve(respond)
    respond.state["self"] = reg.addr

    RegistryClient(reg.addr, credentials=(USER, PASSWORD)).check_push("team/app")

    assert [s.method for s in other.requests][:1] == ["POST"]
    assert leaked(other.requests) == []


@pytest.mark.parametrize("kind", ["basic", "bearer"])
def test_a_redirect_on_the_same_host_keeps_the_credentials(serve, kind: str) -> None:
    respond = registry_redirecting_to(kind, 307, None)
    reg = serve(respond)
    respond.state["self"] = reg.addr

    assert RegistryClient(reg.addr, credentials=(USER, PASSWORD)).tags("team/app") == ["1.0"]
    moved = [s for s in reg.requests if s.path.startswith("/v2/moved/")]
    assert moved and moved[-1].header("Authorization") is not None


def test_a_registry_on_this_machine_is_never_reached_through_a_proxy(serve, monkeypatch) -> None:
    """As docker does: with HTTP_PROXY set and no NO_PROXY, a loopback registry is still asked
    directly, so a proxy never sees its requests (nor, for plain http, its credentials)."""
    proxy = serve(lambda seen: (502, {}, b"the proxy"), host="127.0.0.3")
    respond = registry_redirecting_to("basic", 307, None)
    reg = serve(respond)
    respond.state["self"] = reg.addr
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, proxy.url)
    assert RegistryClient(reg.addr, credentials=(USER, PASSWORD)).tags("team/app") == ["1.0"]
    assert proxy.connections == 0 and reg.requests


def test_a_challenge_from_the_host_redirected_to_is_not_answered(serve) -> None:
    """The registry redirects to another host, which asks for credentials for a token realm
    of its own, https even: that host is not the registry, so it gets nothing, and its realm
    is never contacted."""
    realm_host = serve(lambda seen: (200, {}, json.dumps({"token": TOKEN}).encode()), host="127.0.0.2")
    realm = f"https://{realm_host.addr}/token"
    other = serve(lambda seen: (401, {"WWW-Authenticate": f'Bearer realm="{realm}"'}, b""), host="127.0.0.2")
    reg = serve(lambda seen: (302, {"Location": f"http://{other.addr}{seen.path}"}, b""))

    with pytest.raises(RegistryError, match="listing the tags failed: HTTP 401"):
        RegistryClient(reg.addr, credentials=(USER, PASSWORD)).tags("team/app")
    assert other.requests and leaked(reg.requests + other.requests) == []
    assert realm_host.connections == 0


def test_an_upload_location_on_another_host_is_cancelled_without_credentials(serve) -> None:
    other = serve(lambda seen: (204, {}, b""), host="127.0.0.2")

    def respond(seen: Seen) -> Reply:
        if seen.header("Authorization") != BASIC:
            return 401, {"WWW-Authenticate": 'Basic realm="registry"'}, b""
        return 202, {"Location": f"http://{other.addr}/v2/team/app/blobs/uploads/u1"}, b""

    reg = serve(respond)
    assert RegistryClient(reg.addr, credentials=(USER, PASSWORD)).check_push("team/app").ok
    assert [s.method for s in other.requests] == ["DELETE"]
    assert leaked(other.requests) == []


def test_push_check_cancels_its_upload_on_the_registry_with_the_credentials(serve) -> None:
    def respond(seen: Seen) -> Reply:
        if seen.header("Authorization") != BASIC:
            return 401, {"WWW-Authenticate": 'Basic realm="registry"'}, b""
        if seen.method == "POST":
            return 202, {"Location": "/v2/team/app/blobs/uploads/u1?_state=x"}, b""
        return 204, {}, b""

    reg = serve(respond)
    check = RegistryClient(reg.addr, credentials=(USER, PASSWORD)).check_push("team/app")
    assert (check.ok, check.status) == (True, 202)
    assert [(s.method, s.path) for s in reg.requests if s.header("Authorization")] == [
        ("POST", "/v2/team/app/blobs/uploads/"),
        ("DELETE", "/v2/team/app/blobs/uploads/u1?_state=x"),
    ]


# -- bearer realms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("realm", "registry_host"),
    [
        ("https://auth.example.com/token", "registry.example.com"),
        ("https://auth.docker.io/token?x=1", "registry-1.docker.io"),
        ("https://auth.example.com:8443/token", "127.0.0.1:5000"),
    ],
)
def test_an_https_bearer_realm_gets_the_credentials(realm: str, registry_host: str) -> None:
    registry.check_bearer_realm(realm, registry_host)


@pytest.mark.parametrize(
    ("realm", "registry_host"),
    [
        ("http://127.0.0.1:5001/token", "127.0.0.1:5000"),
        ("http://localhost/token", "LOCALHOST:5000"),
        ("http://[::1]:8080/token", "[::1]:5000"),
    ],
)
def test_a_plain_http_bearer_realm_on_the_registrys_own_loopback_host_gets_the_credentials(
    realm: str, registry_host: str
) -> None:
    registry.check_bearer_realm(realm, registry_host)


@pytest.mark.parametrize(
    ("realm", "registry_host", "why"),
    [
        ("http://auth.example.com/token", "registry.example.com", "plain http to auth.example.com"),
        ("http://auth.example.com/token", "127.0.0.1:5000", "plain http to auth.example.com"),
        ("http://127.0.0.2:5001/token", "127.0.0.1:5000", "plain http on 127.0.0.2, which is not the registry"),
        ("http://localhost:5001/token", "127.0.0.1:5000", "plain http on localhost, which is not the registry"),
        ("http://127.0.0.1/token", "registry.example.com", "plain http on 127.0.0.1, which is not the registry"),
        ("ftp://auth.example.com/token", "registry.example.com", "it is not an https URL"),
        ("/token", "registry.example.com", "it is not an https URL"),
    ],
)
def test_a_bearer_realm_elsewhere_in_plain_http_is_refused(realm: str, registry_host: str, why: str) -> None:
    with pytest.raises(registry.BearerRealmRefused) as refused:
        registry.check_bearer_realm(realm, registry_host)
    message = str(refused.value)
    assert message.startswith(f"refused to send the credentials for {registry_host} to the bearer token realm ")
    assert repr(realm) in message and why in message


def test_a_bearer_realm_on_another_host_in_plain_http_never_receives_the_credentials(serve) -> None:
    thief = serve(lambda seen: (200, {}, json.dumps({"token": TOKEN}).encode()), host="127.0.0.2")
    realm = f"http://{thief.addr}/token"
    reg = serve(lambda seen: (401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="registry"'}, b""))
    client = RegistryClient(reg.addr, credentials=(USER, PASSWORD))

    with pytest.raises(registry.BearerRealmRefused, match="refused to send the credentials") as refused:
        client.tags("team/app")
    assert realm in str(refused.value)
    assert not any(secret in str(refused.value) for secret in SECRETS)
    assert isinstance(refused.value, OSError)  # callers that treat OSError as "unreachable" still work

    check = client.check_push("team/app")
    assert (check.ok, check.status) == (False, 401) and realm in check.detail
    assert thief.requests == []
    assert leaked(reg.requests) == []


def test_a_bearer_token_from_the_registrys_own_host_is_used(serve) -> None:
    respond = registry_redirecting_to("bearer", 307, None)
    reg = serve(respond)
    respond.state["self"] = reg.addr
    client = RegistryClient(reg.addr, credentials=(USER, PASSWORD))

    assert client.tags("team/app") == ["1.0"]
    token_requests = [s for s in reg.requests if s.path.startswith("/token")]
    assert token_requests[-1].path == "/token?service=registry&scope=repository%3Ateam%2Fapp%3Apull"
    assert token_requests[-1].header("Authorization") == BASIC


def test_ping_sends_no_credentials_and_an_unreachable_registry_is_an_oserror(serve) -> None:
    reg = serve(lambda seen: (401, {"WWW-Authenticate": 'Basic realm="registry"'}, b""))
    assert RegistryClient(reg.addr, credentials=(USER, PASSWORD)).ping()
    assert leaked(reg.requests) == []

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    client = RegistryClient(closed, timeout=2, credentials=(USER, PASSWORD))
    assert not client.ping()
    with pytest.raises(registry.RegistryAccessError) as failed:
        client.tags("team/app")
    assert isinstance(failed.value, OSError) and failed.value.message.startswith(f"{closed}: GET http://{closed}/v2/")


# -- http or https -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "scheme"),
    [
        ("127.0.0.1:5000", "http"),
        ("127.1.2.3", "http"),
        ("[::1]:5000", "http"),
        ("[::1]", "http"),
        ("localhost", "http"),
        ("LOCALHOST:5000", "http"),
        ("localhost.attacker.example", "https"),
        ("localhost.attacker.example:5000", "https"),
        ("127.0.0.1.nip.io", "https"),
        ("registry.example.com", "https"),
        ("10.0.0.1", "https"),
        ("128.0.0.1:5000", "https"),
        ("[::2]:5000", "https"),
        ("[::1]evil.example", "https"),
    ],
)
def test_plain_http_only_for_loopback_registries(host: str, scheme: str) -> None:
    assert RegistryClient(host).base == f"{scheme}://{host}/v2"


@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_is_reached_at_its_api_host(host: str) -> None:
    assert RegistryClient(host).base == "https://registry-1.docker.io/v2"


# -- docker config and credential helpers ---------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def docker_env(tmp_path: Path) -> dict[str, str]:
    """An environment with its own DOCKER_CONFIG folder and a bin folder first on PATH."""
    (tmp_path / "docker").mkdir()
    (tmp_path / "bin").mkdir()
    return {
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
    }


def write_config(env: dict[str, str], data: dict) -> Path:
    path = Path(env["DOCKER_CONFIG"]) / "config.json"
    path.write_text(json.dumps(data))
    return path


def write_helper(env: dict[str, str], name: str, script: str) -> Path:
    """``docker-credential-<name>`` on the env's PATH: a shell script that saves its stdin
    next to itself (``<name>.stdin``), then runs ``script``."""
    path = Path(env["PATH"].split(":")[0]) / f"docker-credential-{name}"
    path.write_text(f'#!/bin/sh\n[ "$1" = get ] || exit 3\ncat > "$0.stdin"\n{script}\n')
    path.chmod(0o755)
    return path


def answers(username: str, secret: str = PASSWORD) -> str:
    return f"printf '%s' '{json.dumps({'ServerURL': 'x', 'Username': username, 'Secret': secret})}'"


@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_credentials_are_found_under_the_key_docker_login_uses(docker_env, host: str) -> None:
    write_config(docker_env, {"auths": {"https://index.docker.io/v1/": {"auth": b64(f"{USER}:{PASSWORD}")}}})
    assert docker_credentials(host, docker_env) == (USER, PASSWORD)
    assert docker_credentials("registry.example.com", docker_env) is None


def test_registry_credentials_are_found_by_host_or_by_an_old_style_url_key(docker_env) -> None:
    write_config(
        docker_env,
        {
            "auths": {
                "registry.example.com": {"auth": b64("a:pa")},
                "https://old.example.com:5000/v1/": {"auth": b64("b:pb")},
                "localhost:5000": {},
            }
        },
    )
    assert docker_credentials("registry.example.com", docker_env) == ("a", "pa")
    assert docker_credentials("old.example.com:5000", docker_env) == ("b", "pb")
    assert docker_credentials("old.example.com", docker_env) is None
    assert docker_credentials("localhost:5000", docker_env) is None


def test_the_docker_config_folder_defaults_to_home_and_follows_docker_config(docker_env, monkeypatch) -> None:
    write_config(docker_env, {"auths": {"registry.example.com": {"auth": b64("a:pa")}}})
    monkeypatch.setenv("DOCKER_CONFIG", docker_env["DOCKER_CONFIG"])
    assert docker_credentials("registry.example.com") == ("a", "pa")
    home = Path(docker_env["HOME"]) / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {"r.example": {"auth": b64("h:ph")}}}))
    assert docker_credentials("r.example", {"HOME": str(home)}) == ("h", "ph")
    assert docker_credentials("r.example", {"HOME": str(home / "nowhere")}) is None


def test_cred_helpers_for_the_host_win_over_creds_store(docker_env) -> None:
    team = write_helper(docker_env, "team", answers("from-team"))
    store = write_helper(docker_env, "store", answers("from-store"))
    write_config(
        docker_env,
        {
            "auths": {"registry.example.com": {"auth": b64("from-auths:x")}},
            "credsStore": "store",
            "credHelpers": {"registry.example.com": "team", "https://index.docker.io/v1/": "team", "plain.example": ""},
        },
    )
    assert docker_credentials("registry.example.com", docker_env) == ("from-team", PASSWORD)
    assert Path(f"{team}.stdin").read_text() == "registry.example.com"
    assert docker_credentials("docker.io", docker_env) == ("from-team", PASSWORD)
    assert Path(f"{team}.stdin").read_text() == "https://index.docker.io/v1/"
    assert docker_credentials("other.example.com:5000", docker_env) == ("from-store", PASSWORD)
    assert Path(f"{store}.stdin").read_text() == "other.example.com:5000"
    # An empty credHelpers entry means "the config file", as in docker: not the credsStore.
    assert docker_credentials("plain.example", docker_env) is None


def test_creds_store_gets_the_docker_hub_server_url(docker_env) -> None:
    store = write_helper(docker_env, "desktop", answers(USER))
    write_config(docker_env, {"auths": {"https://index.docker.io/v1/": {}}, "credsStore": "desktop"})
    for host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        assert docker_credentials(host, docker_env) == (USER, PASSWORD)
        assert Path(f"{store}.stdin").read_text() == "https://index.docker.io/v1/"


def test_a_helper_that_has_nothing_for_the_host_means_no_credentials(docker_env) -> None:
    write_helper(docker_env, "store", "echo 'credentials not found in native keychain'; exit 1")
    write_config(docker_env, {"credsStore": "store"})
    assert docker_credentials("registry.example.com", docker_env) is None


@pytest.mark.parametrize(
    ("script", "says"),
    [
        (f"echo 'cannot unlock keyring for {USER}:{PASSWORD}'; echo {PASSWORD} >&2; exit 1", "failed (exit 1)"),
        (f"echo 'Username: {USER} Secret: {PASSWORD}'", "did not print the JSON object docker expects"),
        ("echo '[\"" + PASSWORD + "\"]'", "did not print the JSON object docker expects"),
    ],
    ids=["exit-1", "invalid-json", "json-not-an-object"],
)
def test_a_failing_helper_is_a_clear_error_naming_helper_and_host_without_the_secret(
    docker_env, script: str, says: str
) -> None:
    write_helper(docker_env, "broken", script)
    config = write_config(docker_env, {"credHelpers": {"registry.example.com": "broken"}})

    with pytest.raises(registry.CredentialsError) as failed:
        docker_credentials("registry.example.com", docker_env)
    message = str(failed.value)
    assert message.startswith(
        f"credential helper docker-credential-broken (credHelpers['registry.example.com'] in {config}) "
        "for registry.example.com "
    )
    assert says in message
    assert failed.value.exit_code == 3
    assert not any(secret in text for secret in SECRETS for text in (message, repr(failed.value)))


def test_a_helper_missing_from_path_is_a_clear_error(docker_env) -> None:
    config = write_config(docker_env, {"credsStore": "nosuch"})
    with pytest.raises(registry.CredentialsError) as failed:
        docker_credentials("docker.io", docker_env)
    assert str(failed.value) == (
        f"credential helper docker-credential-nosuch (credsStore in {config}) for docker.io is not on PATH; "
        "install it, or remove credsStore from the config"
    )


@pytest.mark.parametrize("name", ["../evil", "/bin/sh", "-x", "a/b", "sub dir", "x\n"])
def test_a_helper_name_that_is_not_a_plain_name_is_refused_and_not_run(docker_env, name: str) -> None:
    ran = Path(docker_env["HOME"]) / "ran"
    write_helper(docker_env, "-x", f"touch {ran}; {answers(USER)}")
    write_config(docker_env, {"credsStore": name})
    with pytest.raises(
        registry.CredentialsError, match=r"which is not a plain program name \(.*\); refusing to run it$"
    ):
        docker_credentials("registry.example.com", docker_env)
    assert not ran.exists()


def test_a_broken_docker_config_is_an_error_not_no_credentials(docker_env) -> None:
    path = Path(docker_env["DOCKER_CONFIG"]) / "config.json"
    path.write_text("{not json")
    with pytest.raises(registry.CredentialsError, match=f"the docker config {path} is not valid JSON"):
        docker_credentials("registry.example.com", docker_env)
    write_config(docker_env, {"auths": {"registry.example.com": {"auth": "!!" + b64(PASSWORD)}}})
    with pytest.raises(registry.CredentialsError) as failed:
        docker_credentials("registry.example.com", docker_env)
    assert "the 'auth' entry for registry.example.com" in str(failed.value)
    assert not any(secret in str(failed.value) for secret in SECRETS)


def test_no_secret_in_a_repr(docker_env) -> None:
    write_config(docker_env, {"auths": {"registry.example.com": {"auth": b64(f"{USER}:{PASSWORD}")}}})
    creds = docker_credentials("registry.example.com", docker_env)
    client = RegistryClient("registry.example.com", credentials=creds)
    for text in (repr(creds), str(creds), repr(client), str(client), repr((creds,))):
        assert PASSWORD not in text, text
    assert repr(creds) == "Credentials(username='ci', secret='***')"
    user, secret = creds
    assert (user, secret, creds[0]) == (USER, PASSWORD, USER)


# -- import cost ---------------------------------------------------------------------------------


def test_httpx_is_imported_only_when_a_request_is_made() -> None:
    """bake never talks to a registry itself; importing the CLI, doctor, bench or this module,
    making a client and reading credentials must not pay for httpx."""
    code = (
        "import sys\n"
        "import stagecache.cli, stagecache.bake, stagecache.doctor, stagecache.bench\n"
        "from stagecache.registry import RegistryClient, docker_credentials\n"
        "RegistryClient('registry.example.com', credentials=('u', 'p'))\n"
        "docker_credentials('registry.example.com', {'HOME': sys.argv[1]})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'httpcore', 'anyio', 'h11')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "nowhere")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_doctor_reports_a_failing_credential_helper_as_a_failed_registry_check(tmp_path: Path) -> None:
    from stagecache import config as cfg
    from stagecache import doctor
    from stagecache.plan import make_plan

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-broken"
    helper.write_text("#!/bin/sh\necho boom >&2\nexit 1\n")
    helper.chmod(0o755)
    docker_config = tmp_path / "docker"
    docker_config.mkdir()
    (docker_config / "config.json").write_text('{"credsStore": "broken"}')
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM alpine AS a\nRUN true\n")
    (project / "stagecache.toml").write_text(
        '[project]\nimage = "registry.example.com/app"\n[cache]\nmode = "registry"\n'
    )
    plan = make_plan(cfg.load(project / "stagecache.toml", env={}))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "DOCKER_CONFIG": str(docker_config), "HOME": str(tmp_path)}
    check = doctor._registry_check(plan, env)
    assert check.status == doctor.FAIL and check.name == "registry"
    assert "broken" in check.detail and "registry.example.com" in check.detail
