"""Config loading, validation errors (exact text) and precedence."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stagecache import config as cfg
from stagecache.errors import ConfigError


def load_text(tmp_path: Path, text: str, env: dict | None = None, overrides: cfg.Overrides | None = None) -> cfg.Config:
    path = tmp_path / "stagecache.toml"
    path.write_text(text)
    return cfg.load(path, overrides=overrides, env=env or {})


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    assert info.value.exit_code == 2
    return str(info.value).replace(str(tmp_path / "stagecache.toml"), "FILE")


def test_embedded_default(tmp_path: Path) -> None:
    c = cfg.load(None, root=tmp_path, env={"HOME": "/home/u"})
    assert c.path is None
    assert c.cache.mode == "local"
    # No .dockerignore excludes .stagecache/cache: the cache goes to the user's cache folder.
    digest = hashlib.sha256(str(tmp_path.resolve()).encode()).hexdigest()[:8]
    name = tmp_path.name.lower().replace("_", "-")
    assert (c.cache.local_dir, c.cache.local_dir_origin) == (Path(f"/home/u/.cache/stagecache/{name}-{digest}"), "user")
    assert c.dockerfile == tmp_path.resolve() / "Dockerfile"
    assert c.context == tmp_path.resolve()
    assert c.image == f"stagecache/{tmp_path.name.lower().replace('_', '-')}"
    assert c.push_enabled is False
    assert c.cache.registry_mode == "max"
    assert c.cache.on_export_error == "warn"


@pytest.mark.parametrize(
    ("files", "context", "env", "expected"),
    [
        ({".dockerignore": ".stagecache\n"}, ".", {}, "ROOT/.stagecache/cache"),
        ({".dockerignore": "*\n!src\n"}, ".", {}, "ROOT/.stagecache/cache"),
        ({"src/x": ""}, "src", {}, "ROOT/.stagecache/cache"),  # the context does not hold it
        ({".dockerignore": ".stagecache/cache/x\n"}, ".", {}, "USER"),
        ({".dockerignore": ".stagecache\n!.stagecache/cache\n"}, ".", {}, "USER"),
        ({}, ".", {"XDG_CACHE_HOME": "/xdg"}, "/xdg/stagecache/app-HASH"),
        ({}, ".", {"XDG_CACHE_HOME": "relative"}, "USER"),  # not absolute: ignored, as the spec says
    ],
)
def test_the_default_local_dir_is_never_sent_as_context(tmp_path: Path, files, context, env, expected) -> None:
    root = tmp_path / "app"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    root.mkdir(exist_ok=True)
    (root / "stagecache.toml").write_text(f'[project]\ncontext = "{context}"\n')
    c = cfg.load(root / "stagecache.toml", env={"HOME": "/home/u", **env})
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    want = (
        expected.replace("ROOT", str(root.resolve()))
        .replace("USER", "/home/u/.cache/stagecache/app-HASH")
        .replace("HASH", digest)
    )
    assert str(c.cache.local_dir) == want
    assert c.cache.local_dir_origin == ("project" if want.startswith(str(root)) else "user")


def test_full_config(tmp_path: Path) -> None:
    c = load_text(
        tmp_path,
        """
[project]
dockerfile = "docker/Dockerfile"
context = "src"
target = "runtime"
image = "registry.example.com:5000/team/app"
tags = ["registry.example.com:5000/team/app:latest"]
builder = "ci"
network = "host"
platforms = ["linux/amd64"]
push = true

[cache]
mode = "registry"
registry_mode = "min"
ref = "{image}/cache:{stage}-{branch}"
tag = "{image}:stage-{stage}"

[build.args]
VERSION = "1.2"
JOBS = 4

[build.secrets]
npmrc = { file = "secrets/npmrc" }
token = { env = "GH_TOKEN" }
short = "SHORT_ENV"

[stages.Compile]
tags = ["registry.example.com:5000/team/compiler:latest"]
push = false
""",
    )
    root = tmp_path.resolve()
    assert c.dockerfile == root / "docker" / "Dockerfile"
    assert c.context == root / "src"
    assert c.target == "runtime"
    assert c.image == "registry.example.com:5000/team/app"
    assert c.tags == ("registry.example.com:5000/team/app:latest",)
    assert (c.builder, c.network, c.platforms, c.push) == ("ci", "host", ("linux/amd64",), True)
    assert c.cache.mode == "registry" and c.cache.registry_mode == "min"
    assert c.cache.ref == "{image}/cache:{stage}-{branch}"
    assert c.build_args == (("VERSION", "1.2"), ("JOBS", "4"))
    assert c.secrets == (
        cfg.Secret("npmrc", file=root / "secrets" / "npmrc"),
        cfg.Secret("token", env="GH_TOKEN"),
        cfg.Secret("short", env="SHORT_ENV"),
    )
    assert c.stage_settings("compile") == cfg.StageSettings(("registry.example.com:5000/team/compiler:latest",), False)
    assert c.stage_settings("other") == cfg.StageSettings()


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    text = '[cache]\nmode = "inline"\n'
    assert load_text(tmp_path, text).cache.mode == "inline"
    assert load_text(tmp_path, text, env={"STAGECACHE_CACHE_MODE": "classic"}).cache.mode == "classic"
    both = load_text(
        tmp_path, text, env={"STAGECACHE_CACHE_MODE": "classic"}, overrides=cfg.Overrides(cache_mode="none")
    )
    assert both.cache.mode == "none"
    assert cfg.load(None, root=tmp_path, env={"STAGECACHE_CACHE_MODE": "registry"}).cache.mode == "registry"


def test_push_default_follows_mode(tmp_path: Path) -> None:
    for mode, push in [("registry", True), ("inline", True), ("classic", True), ("local", False), ("none", False)]:
        assert load_text(tmp_path, f'[cache]\nmode = "{mode}"\n').push_enabled is push
    assert (
        load_text(tmp_path, '[cache]\nmode = "registry"\n', overrides=cfg.Overrides(push=False)).push_enabled is False
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[cache]\nregistry_mod = "min"\n',
            "FILE: key 'cache.registry_mod': unknown key. Did you mean 'registry_mode'? "
            'Valid keys here: "mode", "registry_mode", "ref", "tag", "local_dir", "on_export_error", '
            '"first_export", "fallback_branch", "read_only", "fail_under".',
        ),
        (
            '[cache]\nmode = "registy"\n',
            'FILE: key \'cache.mode\': expected one of "registry", "inline", "local", "classic", "none", '
            "got 'registy'. Did you mean 'registry'?",
        ),
        (
            "[cache]\nmode = 3\n",
            "FILE: key 'cache.mode': expected a string, got an integer 3.",
        ),
        (
            '[projct]\nimage = "x"\n',
            "FILE: key 'projct': unknown key. Did you mean 'project'? "
            'Valid keys here: "project", "cache", "build", "stages", "bench".',
        ),
        (
            '[project]\nimage = "Registry.example.com/App"\n',
            "FILE: key 'project.image': 'Registry.example.com/App' is not a valid repository: it is not an image "
            "reference: repository name must be lowercase "
            "(expected [registry[:port]/]name[:tag], lowercase name components).",
        ),
        (
            '[project]\nimage = "registry.example.com/app:v1"\n',
            "FILE: key 'project.image': 'registry.example.com/app:v1' is not a valid repository: it must be a "
            "repository without a tag or digest (e.g. registry.example.com/team/app).",
        ),
        (
            '[project]\nimage = "--privileged"\n',
            "FILE: key 'project.image': '--privileged' is not a valid repository: it starts with '-' and would be "
            "read as a flag.",
        ),
        (
            '[project]\nbuilder = "-x"\n',
            "FILE: key 'project.builder': '-x' is not allowed: it starts with '-' and would be read as a flag.",
        ),
        (
            '[cache]\nlocal_dir = "x,type=registry"\n',
            "FILE: key 'cache.local_dir': 'x,type=registry' is not allowed: it contains ',', '=', which would "
            "change the meaning of a buildx option.",
        ),
        (
            '[cache]\nref = "{image}:cache"\n',
            "FILE: key 'cache.ref': '{image}:cache' must contain {stage}, or every stage would share one name.",
        ),
        (
            '[cache]\nref = "{image}:{stage}-{sha}"\n',
            "FILE: key 'cache.ref': '{image}:{stage}-{sha}' uses unknown placeholder {sha}; the placeholders are "
            "{image}, {stage}, {branch}.",
        ),
        (
            '[cache]\ntag = "{image}:{stage}:x"\n',
            "FILE: key 'cache.tag': '{image}:{stage}:x' does not make a valid image reference: it is not an image "
            "reference (expected [registry[:port]/]name[:tag], lowercase name components).",
        ),
        (
            '[project]\ntarget = "-runtime"\n',
            "FILE: key 'project.target': '-runtime' is not allowed: it starts with '-' and would be read as a flag.",
        ),
        (
            '[project]\nplatforms = ["linux"]\n',
            "FILE: key 'project.platforms[0]': 'linux' is not a platform; expected os/arch[/variant], "
            "e.g. linux/amd64.",
        ),
        (
            '[project]\npush = "yes"\n',
            "FILE: key 'project.push': expected true or false, got a string 'yes'.",
        ),
        (
            '[build.args]\n"1BAD" = "x"\n',
            "FILE: key 'build.args.1BAD': not a valid build arg name (letters, digits and '_', not starting "
            "with a digit).",
        ),
        (
            '[build.secrets]\ntok = { env = "A", file = "b" }\n',
            'FILE: key \'build.secrets.tok\': set exactly one of env = "VAR" or file = "path".',
        ),
        (
            '[stages."my stage"]\npush = true\n',
            "FILE: key 'stages.my stage': not a stage name (letters, digits, '-', '_', '.').",
        ),
        (
            '[project]\ntags = ["app:latest", "x,y"]\n',
            "FILE: key 'project.tags[1]': 'x,y' is not a valid image reference: it is not an image reference "
            "(expected [registry[:port]/]name[:tag], lowercase name components).",
        ),
        (
            'project = "x"\n',
            "FILE: key 'project': expected a table ([project]), got a string.",
        ),
        (
            '[build.args]\nSSH_PRIVATE_KEY = "-----BEGIN KEY-----\\nMIIEvQ\\n-----END KEY-----"\n',
            "FILE: key 'build.args.SSH_PRIVATE_KEY': a build arg value cannot contain a newline; pass a value of "
            "several lines (a key, a certificate) as a secret: [build.secrets] and RUN --mount=type=secret.",
        ),
    ],
)
def test_validation_errors(tmp_path: Path, text: str, message: str) -> None:
    assert error_of(tmp_path, text) == message


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    msg = error_of(tmp_path, '[project]\nimage = "a"\nnetwork = none\n')
    assert msg == ("FILE:3:11: TOML syntax error: Invalid value. Fix that line (see https://toml.io for the syntax).")


def test_duplicate_key_is_a_syntax_error(tmp_path: Path) -> None:
    msg = error_of(tmp_path, '[cache]\nmode = "local"\nmode = "none"\n')
    assert msg.startswith("FILE:3:")
    assert "TOML syntax error: Cannot overwrite a value" in msg


def test_flag_override_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, "", overrides=cfg.Overrides(cache_mode="lokal"))
    assert str(info.value) == (
        'command line: option --cache-mode: expected one of "registry", "inline", "local", "classic", '
        "\"none\", got 'lokal'. Did you mean 'local'?"
    )
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, "", env={"STAGECACHE_CACHE_MODE": "fast"})
    assert str(info.value) == (
        'environment variable STAGECACHE_CACHE_MODE: expected one of "registry", "inline", "local", "classic", '
        "\"none\", got 'fast'."
    )


def test_explicit_config_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        cfg.find_config(tmp_path, Path("nope.toml"), env={})
    assert (
        str(info.value)
        == f"{tmp_path / 'nope.toml'}: config file not found. Pass an existing file to --config, or omit it."
    )
    assert cfg.find_config(tmp_path, None, env={}) is None
    (tmp_path / "stagecache.toml").write_text("")
    assert cfg.find_config(tmp_path, None, env={}) == tmp_path / "stagecache.toml"


def test_example_config_documents_every_key() -> None:
    from tests.conftest import ROOT

    example = ROOT / "stagecache.toml.example"
    text = example.read_text()
    c = cfg.load(example, env={})  # the example itself is valid
    assert c.cache.mode == "registry"
    for key in (*cfg._PROJECT_KEYS, *cfg._CACHE_KEYS):
        assert f"{key} =" in text or f"# {key} =" in text, key


def test_a_secret_file_under_home_is_the_user_s(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    c = load_text(tmp_path, '[build.secrets]\nnpmrc = { file = "~/.npmrc" }\n')
    assert c.secrets == (cfg.Secret("npmrc", file=tmp_path / "home" / ".npmrc"),)


def test_a_network_buildx_does_not_take_is_refused(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[project]\nnetwork = "bridge"\n') == (
        'FILE: key \'project.network\': expected one of "", "default", "none", "host", got \'bridge\'.'
    )


def test_the_engine_is_chosen_by_flag_then_docker_s_variables_then_the_file(tmp_path: Path) -> None:
    text = '[project]\ndocker_context = "ci-engine"\n'
    got = load_text(tmp_path, text)
    assert (got.docker_context, got.docker_context_origin) == ("ci-engine", "[project].docker_context")
    for var in ("DOCKER_CONTEXT", "DOCKER_HOST"):
        env = load_text(tmp_path, text, env={var: "x"})
        assert (env.docker_context, env.docker_context_origin) == ("", var)
    flag = load_text(tmp_path, text, env={"DOCKER_HOST": "x"}, overrides=cfg.Overrides(context="other"))
    assert (flag.docker_context, flag.docker_context_origin) == ("other", "--context")
    assert (load_text(tmp_path, "").docker_context, load_text(tmp_path, "").docker_context_origin) == ("", "")
    assert error_of(tmp_path, '[project]\ndocker_context = "--host=tcp://x"\n') == (
        "FILE: key 'project.docker_context': '--host=tcp://x' is not a docker context "
        "name (letters, digits and _.+- , not starting with '-'); list them with `docker context ls`."
    )
    with pytest.raises(ConfigError, match="option --context: 'a b' is not a docker context name"):
        load_text(tmp_path, "", overrides=cfg.Overrides(context="a b"))


def test_a_docker_driver_builder_of_another_context_is_named_with_the_fix() -> None:
    from stagecache.preflight import other_context_builder
    from stagecache.runner import BuilderInfo, EngineInfo

    engine = EngineInfo("26.1.5", "0.13.1", "overlayfs", True, "default", "unix:///var/run/docker.sock")
    other = BuilderInfo("ci-engine", "docker", False)
    assert 'Set [project].docker_context = "ci-engine" (or pass --context ci-engine)' in other_context_builder(
        "ci-engine", other, engine
    )
    assert other_context_builder("", other, engine) == ""  # the current builder
    assert other_context_builder("default", BuilderInfo("default", "docker", True), engine) == ""
    assert other_context_builder("fleet", BuilderInfo("fleet", "docker-container", True), engine) == ""
