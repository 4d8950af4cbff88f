"""Secret build args: which are secret (names, [build].secret_args, credential URLs), and that
no character of their values gets through the progress readers (decoded warnings, output
split across chunks, very long lines), the plan, or the bake file."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest

from stagecache import bakefile
from stagecache import config as cfg
from stagecache.errors import ConfigError
from stagecache.plan import credential_url_passwords, looks_secret, make_plan
from stagecache.progress import LOG_LINE_CAP, BuildProgress, Event, LegacyProgress, Scrubber, _LineBuffer
from tests.conftest import DATA

NAMES = DATA / "secret_names.txt"
RECORDED = DATA / "secrets" / "split-secrets.cold.rawjson"
# The values the recording was made with (tests/data/secrets/README.md).
REC_DB_PASS = "rec-Q7mZp2Lx9Vt4Nc8Wb3Hs6Jd1Fg5Ky0 &<>%{}é@:!#*~"
REC_SIGNING_KEY = "sig-4HfT9qLw2ZxC7vBn5MkR8pYd3Js6Ga1 \"\\$'`"


def name_cases() -> list[tuple[str, bool]]:
    cases = []
    for line in NAMES.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, verdict = (x.strip() for x in line.split("|"))
            assert verdict in ("secret", "public"), line
            cases.append((name, verdict == "secret"))
    return cases


@pytest.mark.parametrize(("name", "secret"), name_cases())
def test_name_heuristics_table(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


@pytest.mark.parametrize(
    ("value", "passwords"),
    [
        ("postgres://app:s3cr%40t@db:5432/app", ("s3cr%40t", "s3cr@t")),
        ("https://ci:p@ss-word@pypi.corp.example/simple", ("p@ss-word",)),
        ("--index-url https://u:tok-123456@pypi.corp.example/simple --trusted-host x", ("tok-123456",)),
        ("mysql://root:pw1@a/x,mysql://root:pw2@b/y", ("pw1", "pw2")),
        ("ssh://git@github.com/org/repo.git", ()),
        ("https://user:@host/x", ()),
        ("https://host:8443/path?a=b:c@d", ()),
        ("plain value", ()),
    ],
)
def test_credential_url_passwords(value: str, passwords: tuple[str, ...]) -> None:
    assert credential_url_passwords(value) == passwords


DOCKERFILE = "FROM alpine AS compile\nRUN make\nFROM alpine AS runtime\nCOPY --from=compile /a /a\n"


def plan_for(tmp_path: Path, build: str):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "stagecache.toml").write_text('[project]\nimage = "reg.example.com/app"\n' + build)
    return make_plan(cfg.load(tmp_path / "stagecache.toml", env={}))


ARGS = (
    "[build]\n"
    'secret_args = ["MY_VALUE"]\n'
    "[build.args]\n"
    'VERSION = "1.2"\n'
    'API_TOKEN = "tok-5d2e8f1a"\n'
    'MY_VALUE = "plain-looking-but-secret"\n'
    'MIRROR = "https://ci:pw-9f8e7d@mirror.example/simple"\n'
    'NO_AUTH = "1"\n'
    'SHORT_TOKEN = "abc"\n'
)


def test_secret_args_come_from_names_config_and_credential_urls(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, ARGS)
    assert plan.config.secret_args == ("MY_VALUE",)
    assert plan.secret_args == ("API_TOKEN", "MY_VALUE", "MIRROR", "SHORT_TOKEN")
    # Shorter than 4 characters: redacted where stagecache prints build args, not searched for
    # in the build log (replacing "abc" there would hide nothing and mangle the log).
    assert plan.secret_values == (
        "tok-5d2e8f1a",
        "plain-looking-but-secret",
        "https://ci:pw-9f8e7d@mirror.example/simple",
        "pw-9f8e7d",
    )
    shown = plan.builds[0].build.display(plan.secret_args)
    for name in plan.secret_args:
        assert f"{name}=***" in shown
    assert "VERSION=1.2" in shown and "NO_AUTH=1" in shown
    assert not any(v in shown for v in plan.secret_values)


def test_a_heuristic_match_stays_secret_and_secret_args_only_adds(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path, '[build]\nsecret_args = "VERSION"\n[build.args]\nVERSION = "1.2.3"\nDB_PASS = "hunter22"\n'
    )
    assert plan.secret_args == ("VERSION", "DB_PASS")
    assert plan.secret_values == ("1.2.3", "hunter22")


def test_the_plan_warning_recommends_build_secrets(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, ARGS)
    warnings = [w.split(": ", 1)[1] for w in plan.warnings if "build arg" in w]
    tail = (
        ". stagecache keeps its value out of what it prints, but build args are stored in the image (its "
        "history and config), where anyone who can pull it can read them. Use a BuildKit secret instead, "
        "which never reaches the image: move it to [build.secrets] and read it in the step that needs it "
        "with RUN --mount=type=secret,id="
    )
    assert warnings == [
        "build arg 'API_TOKEN' looks like a secret" + tail + "api_token.",
        "build arg 'MY_VALUE' is marked secret in [build].secret_args" + tail + "my_value.",
        "build arg 'MIRROR' holds a URL with a password" + tail + "mirror.",
        "build arg 'SHORT_TOKEN' looks like a secret" + tail + "short_token.",
    ]
    assert all(w.startswith(f"{tmp_path / 'stagecache.toml'}: build arg") for w in plan.warnings if "build arg" in w)


def test_bake_file_reads_every_secret_arg_from_the_environment(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, ARGS)
    d = bakefile.definition(plan, standalone=True)
    assert d["variable"] == {n: {"default": ""} for n in ("API_TOKEN", "MY_VALUE", "MIRROR", "SHORT_TOKEN")}
    assert d["target"]["runtime"]["args"] == {
        "VERSION": "1.2",
        "API_TOKEN": "${API_TOKEN}",
        "MY_VALUE": "${MY_VALUE}",
        "MIRROR": "${MIRROR}",
        "NO_AUTH": "1",
        "SHORT_TOKEN": "${SHORT_TOKEN}",
    }
    text = json.dumps(d)
    assert not any(v in text for v in (*plan.secret_values, "abc"))
    command = bakefile.command(plan, "/tmp/def.json")
    assert dict(command.env) == {
        "API_TOKEN": "tok-5d2e8f1a",
        "MY_VALUE": "plain-looking-but-secret",
        "MIRROR": "https://ci:pw-9f8e7d@mirror.example/simple",
        "SHORT_TOKEN": "abc",
    }
    shown = command.display(plan.secret_args)
    assert shown.startswith("API_TOKEN=*** MY_VALUE=*** MIRROR=*** SHORT_TOKEN=*** docker buildx bake")


def config_error(tmp_path: Path, text: str) -> str:
    (tmp_path / "stagecache.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        cfg.load(tmp_path / "stagecache.toml", env={})
    assert info.value.exit_code == 2
    return str(info.value).replace(str(tmp_path / "stagecache.toml"), "FILE")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[build]\nsecret_args = ["API_TOKN"]\n[build.args]\nAPI_TOKEN = "x"\nVERSION = "1"\n',
            "FILE: key 'build.secret_args[0]': 'API_TOKN' is not a build arg in [build.args]. "
            'Did you mean \'API_TOKEN\'? Declared: "API_TOKEN", "VERSION".',
        ),
        (
            '[build]\nsecret_args = ["VERSION", "my_value"]\n[build.args]\nMY_VALUE = "x"\nVERSION = "1"\n',
            "FILE: key 'build.secret_args[1]': 'my_value' is not a build arg in [build.args]. "
            'Did you mean \'MY_VALUE\'? Declared: "MY_VALUE", "VERSION".',
        ),
        (
            '[build]\nsecret_args = ["X"]\n',
            "FILE: key 'build.secret_args[0]': 'X' is not a build arg in [build.args]. [build.args] declares none.",
        ),
        (
            "[build]\nsecret_args = [1]\n",
            "FILE: key 'build.secret_args[0]': expected a string, got an integer 1.",
        ),
        (
            "[build]\nsecret_args = { A = 1 }\n",
            "FILE: key 'build.secret_args': expected a list of strings, got a table.",
        ),
        (
            "[build]\nsecret_arg = []\n",
            "FILE: key 'build.secret_arg': unknown key. Did you mean 'secret_args'? Valid keys here: "
            '"args", "secret_args", "secrets", "jobs", "on_failure", "execution", "scope", "fast_path".',
        ),
    ],
)
def test_secret_args_validation(tmp_path: Path, text: str, message: str) -> None:
    assert config_error(tmp_path, text) == message


def test_secret_args_in_the_example_config() -> None:
    from tests.conftest import ROOT

    text = (ROOT / "stagecache.toml.example").read_text()
    line = '# secret_args = ["MY_VALUE"]'
    assert line in text.split("\n[build]\n", 1)[1].split("\n[build.args]\n", 1)[0]
    # Uncommented, with the build arg it names declared, the example is valid.
    text = text.replace(line, line[2:]).replace("\n[build.args]\n", '\n[build.args]\nMY_VALUE = "x"\n')
    example = ROOT / "stagecache.toml.example"
    c = cfg._from_dict(cfg.tomllib.loads(text), example.parent, example, str(example), {})
    assert c.secret_args == ("MY_VALUE",)


# --- the progress readers ----------------------------------------------------------------------

SECRET = "Zx81-hQ2vN7pL4mK9sT3wR6yB0cF5gJ1dE8a"


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def reader(*secrets: str) -> tuple[BuildProgress, list[Event]]:
    events: list[Event] = []
    return BuildProgress(on_event=events.append, secrets=secrets or (SECRET,)), events


def vertex(digest: str = "d1", **more: object) -> dict:
    return {"digest": digest, "name": '[build 2/3] RUN echo "$TOKEN"', "started": "2026-01-01T00:00:00Z", **more}


def log(data: str | bytes, digest: str = "d1", stream: int = 1) -> dict:
    return {"vertex": digest, "stream": stream, "data": b64(data), "timestamp": "2026-01-01T00:00:01Z"}


def every_text(p: BuildProgress, events: list[Event]) -> list[str]:
    steps = list(p.steps.values())
    return [
        *(e.text for e in events),
        *p.messages,
        *(s.instruction for s in steps),
        *(s.error or "" for s in steps),
        *(line for s in steps for line in s.logs),
        *(v.name for v in p.vertices.values()),
        *(v.error or "" for v in p.vertices.values()),
        *p.import_errors,
        *p.export_errors,
    ]


def log_lines(events: list[Event]) -> list[str]:
    return [e.text for e in events if e.kind == "log"]


def test_a_warning_is_scrubbed_after_it_is_decoded() -> None:
    p, events = reader()
    warning = {
        "vertex": "d0",
        "level": 1,
        "short": b64(f"Empty continuation line found in: ARG T={SECRET}"),
        "detail": [b64(f"the value was {SECRET}"), b64("second line")],
        "url": "https://example.com",
    }
    p.feed(json.dumps({"warnings": [warning]}))
    p.close()
    assert p.messages == ["WARNING: Empty continuation line found in: ARG T=*** (the value was *** second line)"]
    assert [e.text for e in events] == p.messages


def test_plain_lines_vertex_names_and_errors_are_scrubbed() -> None:
    p, events = reader()
    named = {"digest": "d1", "name": f'[build 2/3] RUN echo "{SECRET}"', "started": "2026-01-01T00:00:00Z"}
    failed = {**named, "completed": "2026-01-01T00:00:01Z", "error": f"failed: {SECRET}"}
    export = {"digest": "d2", "name": f"exporting cache to {SECRET}", "error": f"denied {SECRET}"}
    p.feed(json.dumps({"vertexes": [named, export]}) + f"\nERROR: failed to solve: {SECRET}\n")
    p.feed(json.dumps({"vertexes": [failed]}))
    p.close()
    step = p.steps["d1"]
    assert step.instruction == 'RUN echo "***"' and step.error == "failed: ***" and step.number == 2
    assert p.export_errors == ["exporting cache to ***: denied ***"]
    assert p.messages == ["ERROR: failed to solve: ***"]
    assert not [t for t in every_text(p, events) if SECRET[:8] in t or SECRET[-8:] in t]


def test_a_secret_in_a_step_name_never_breaks_the_name() -> None:
    p, _ = reader("build")  # a silly secret that is also the stage's name
    p.feed(json.dumps({"vertexes": [{"digest": "d1", "name": "[build 2/3] RUN make build"}]}))
    p.close()
    step = p.steps["d1"]
    assert (step.stage, step.number, step.instruction) == ("build", 2, "RUN make ***")


@pytest.mark.parametrize("cut", [1, 5, 17, len(SECRET) - 1])
def test_a_secret_split_between_two_log_entries_is_scrubbed(cut: int) -> None:
    p, events = reader()
    head, tail = f"token={SECRET[:cut]}", f"{SECRET[cut:]} done\nnext line\n"
    # Two entries of one message...
    p.feed(json.dumps({"vertexes": [vertex()], "logs": [log(head), log(tail)]}))
    p.close()
    assert log_lines(events) == ["token=*** done", "next line"]
    assert list(p.steps["d1"].logs) == ["token=*** done", "next line"]
    # ... or two messages, each fed on its own, the second split inside its JSON too.
    p, events = reader()
    second = json.dumps({"logs": [log(tail)]})
    p.feed(json.dumps({"vertexes": [vertex()], "logs": [log(head)]}))
    p.feed(second[:20])
    p.feed(second[20:])
    p.close()
    assert log_lines(events) == ["token=*** done", "next line"]


def test_output_is_held_per_vertex_and_stream_until_its_newline() -> None:
    p, events = reader()
    other = {**vertex("d2"), "name": "[build 3/3] RUN other"}
    p.feed(json.dumps({"vertexes": [vertex(), other], "logs": [log(SECRET[:9]), log("err: ", stream=2)]}))
    p.feed(json.dumps({"logs": [log("from d2\n", "d2"), log("oops\n", stream=2), log(SECRET[9:] + "\n")]}))
    p.close()
    assert log_lines(events) == ["from d2", "err: oops", "***"]
    assert list(p.steps["d1"].logs) == ["err: oops", "***"] and list(p.steps["d2"].logs) == ["from d2"]


def test_lines_come_out_as_before_blank_and_carriage_return_ones_included() -> None:
    p, events = reader()
    p.feed(json.dumps({"vertexes": [vertex()], "logs": [log("a\n\nb"), log("\r\n10%\r20%\r"), log("done\n\n")]}))
    p.close()
    assert log_lines(events) == "a\n\nb\r\n10%\r20%\rdone\n\n".splitlines() == ["a", "", "b", "10%", "20%", "done", ""]


def test_the_end_of_a_vertex_passes_on_its_unfinished_line() -> None:
    p, events = reader()
    p.feed(json.dumps({"vertexes": [vertex()], "logs": [log("no newline " + SECRET[:10])]}))
    p.feed(json.dumps({"logs": [log(SECRET[10:])], "vertexes": [vertex(completed="2026-01-01T00:00:02Z")]}))
    assert [(e.kind, e.text) for e in events] == [("start", ""), ("done", ""), ("log", "no newline ***")]
    p.close()
    assert log_lines(events) == ["no newline ***"]


def test_a_utf8_character_split_between_log_entries_is_decoded_whole() -> None:
    secret = "pässwörd-€-ünïcode"
    data = f"value {secret}\n".encode()
    cut = data.index("€".encode()) + 1  # inside the euro sign's three bytes
    p, events = reader(secret)
    p.feed(json.dumps({"vertexes": [vertex()], "logs": [log(data[:cut]), log(data[cut:])]}))
    p.close()
    assert log_lines(events) == ["value ***"]


@pytest.mark.parametrize("chunk", [1, 333, 4096, 70_000])
def test_a_line_longer_than_the_cap_is_passed_on_in_pieces_with_no_secret_left(chunk: int) -> None:
    rng = random.Random(chunk)
    text = rng.choices("abcdefgh", k=9 * LOG_LINE_CAP)
    for at in range(100, len(text) - 100, 997):  # a secret every 997 characters
        text[at : at + len(SECRET)] = SECRET
    line = "".join(text)
    logs = [log(line[i : i + chunk]) for i in range(0, len(line), chunk)]
    p, events = reader("short", SECRET)
    p.feed(json.dumps({"vertexes": [vertex()]}))
    held = []
    for i in range(0, len(logs), 50):
        p.feed(json.dumps({"logs": logs[i : i + 50]}))
        held.append(sum(b._size for b in p._open_logs.values()))
    p.close()
    pieces = log_lines(events)
    assert len(pieces) > 1
    assert "".join(pieces) == line.replace(SECRET, "***")
    assert not [piece for piece in pieces if SECRET[:4] in piece or SECRET[-4:] in piece]
    # Memory stays bounded: never more than the cap plus the longest secret is held.
    assert 0 < max(held) <= LOG_LINE_CAP + len(SECRET)


@pytest.mark.parametrize("chunk", [1, 1000, 3 * LOG_LINE_CAP])
def test_a_secret_across_the_cap_is_caught_wherever_it_falls(chunk: int) -> None:
    """Put the secret across the first cut of a long line at every possible offset."""

    def pieces(line: str) -> list[str]:
        buffer = _LineBuffer(Scrubber([SECRET]))
        out = []
        for i in range(0, len(line), chunk):
            out.extend(buffer.feed(line[i : i + chunk]))
        return out + buffer.flush()

    cut = len(pieces("a" * 3 * LOG_LINE_CAP)[0])
    for start in range(cut - len(SECRET) - 1, cut + 2):
        line = "a" * start + SECRET + "b" * 2 * LOG_LINE_CAP
        out = pieces(line)
        assert len(out) > 1 and "".join(out) == "a" * start + "***" + "b" * 2 * LOG_LINE_CAP, start


def test_overlapping_secrets_leave_no_character() -> None:
    s = Scrubber(["abcdef", "defghi", "xyzxyz"])
    assert s.scrub("1abcdefghi2 xyzxyzxyz 3")[0] == "1***2 *** 3"
    assert s.scrub("nothing here")[0] == "nothing here"
    assert Scrubber([]).scrub("abc")[0] == "abc"


def test_recorded_stream_keeps_every_secret_out() -> None:
    """tests/data/secrets: the real stream of a build that prints two secrets plainly, inside
    a 4,401-character line sent in five chunks, split between chunks, in a frontend warning, in
    a vertex name, and on stderr before failing."""
    text = RECORDED.read_text()
    for chunk in (None, 1, 97, 4096):
        p, events = reader(REC_DB_PASS, REC_SIGNING_KEY)
        parts = [text] if chunk is None else [text[i : i + chunk] for i in range(0, len(text), chunk)]
        for part in parts:
            p.feed(part)
        p.close()
        texts = every_text(p, events)
        for secret in (REC_DB_PASS, REC_SIGNING_KEY):
            assert not [t for t in texts if secret[:10] in t or secret[10:20] in t or secret[-12:] in t], chunk
        lines = log_lines(events)
        assert "plain: ***" in lines
        assert "a" * 4100 + "***" + "b" * 300 in lines
        assert "split: ***|***" in lines
        assert "failing with ***" in lines
        assert (
            'WARNING: Empty continuation line found in: ARG DB_PASS="***"     SIGNING_KEY '
            "(Empty continuation lines will become errors in a future release)"
        ) in p.messages
        failed = p.failed_step()
        assert failed is not None and failed.stage == "boom"
        assert failed.instruction == "RUN printf 'failing with %s\\n' \"***\" >&2; exit 3"
        assert list(failed.logs) == ["failing with ***"]


def test_recorded_stream_shows_the_defects_without_the_fix() -> None:
    """What the recording holds: the warning's value only in base64 (so a scrub before decoding
    misses it), the long line and the split values only across entries (so does a scrub of
    each entry on its own)."""
    objects = _objects(RECORDED.read_text())
    logs = [base64.b64decode(entry["data"]).decode() for o in objects for entry in o.get("logs") or ()]
    assert "a" * 4100 in logs and "\n" in logs
    assert f"split: {REC_DB_PASS[:20]}" in logs and f"{REC_DB_PASS[20:]}|" in logs
    assert REC_SIGNING_KEY[:10] in logs and f"{REC_SIGNING_KEY[10:]}\n" in logs
    shorts = [base64.b64decode(w["short"]).decode() for o in objects for w in o.get("warnings") or ()]
    assert len(shorts) == 1 and REC_DB_PASS in shorts[0]


def _objects(text: str) -> list[dict]:
    decoder = json.JSONDecoder()
    out, i = [], 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        if text[i] != "{":
            i = text.find("\n", i) + 1 or len(text)
            continue
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)
    return out


def test_classic_builder_output_split_between_feeds_is_scrubbed() -> None:
    events: list[Event] = []
    p = LegacyProgress(on_event=events.append, clock=lambda: 0.0, secrets=[SECRET])
    p.feed("Step 1/2 : FROM busybox\n ---> 1234\nStep 2/2 : RUN echo $T\n ---> Running in abc\nvalue ")
    p.feed(SECRET[:7])
    p.feed(SECRET[7:] + "\r\nlast " + SECRET[:3])
    p.close()
    assert [e.text for e in events if e.kind == "log"][-2:] == ["value ***", "last " + SECRET[:3]]
    assert list(p.steps.values())[0].logs[-2] == "value ***"
    # A long classic-builder line is bounded the same way.
    p = LegacyProgress(clock=lambda: 0.0, secrets=[SECRET])
    p.feed("x" * (5 * LOG_LINE_CAP))
    assert p._lines._size <= LOG_LINE_CAP + len(SECRET)
