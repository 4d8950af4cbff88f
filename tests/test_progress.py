"""Progress parsing, fed with rawjson and classic-builder output recorded on the real engine."""

from __future__ import annotations

import json

import pytest

from stagecache.progress import BuildProgress, LegacyProgress, RawJsonDecoder, parse_time
from tests.conftest import DATA


def read(name: str) -> str:
    return (DATA / name).read_text()


def steps(p) -> list[tuple[str, int, bool, bool]]:
    """(stage, number, cached, errored) of every non-pull step, in order."""
    out = sorted((s.stage, s.number, s.cached, s.error is not None) for s in p.steps.values() if not s.is_pull)
    return out


def feed_all(text: str, chunk: int | None = None) -> BuildProgress:
    p = BuildProgress()
    if chunk is None:
        p.feed(text)
    else:
        for i in range(0, len(text), chunk):
            p.feed(text[i : i + chunk])
    p.close()
    return p


def test_decoder_splits_objects_and_text_lines() -> None:
    d = RawJsonDecoder()
    stream = '{\n  "a": "x}{\\"y"\n}\nWARNING: plain text\n{"b": [1, {"c": 2}]}{"d":3}\nERROR: tail'
    items = list(d.feed(stream)) + list(d.close())
    assert items == [{"a": 'x}{"y'}, "WARNING: plain text", {"b": [1, {"c": 2}]}, {"d": 3}, "ERROR: tail"]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 4096])
def test_decoder_is_independent_of_chunking(chunk: int) -> None:
    text = read("rawjson-warm-app-import-refused.txt")
    whole = list(RawJsonDecoder().feed(text))
    d = RawJsonDecoder()
    parts = []
    for i in range(0, len(text), chunk):
        parts.extend(d.feed(text[i : i + chunk]))
    parts.extend(d.close())
    assert parts == whole
    assert len(whole) > 20 and all(isinstance(x, dict) for x in whole)


def test_cold_build_every_step_executed() -> None:
    p = feed_all(read("rawjson-cold-deps-a.txt"))
    assert steps(p) == [
        ("base", 2, False, False),
        ("deps-a", 1, False, False),
        ("deps-a", 2, False, False),
        ("deps-a", 3, False, False),
        ("deps-a", 4, False, False),
    ]
    slow = [s for s in p.steps.values() if s.instruction.startswith("RUN sleep 1")]
    assert len(slow) == 1 and 0.9 < slow[0].seconds < 5
    # The local cache that did not exist yet is a note, not an import error.
    assert p.missing_caches == ["/tmp/nonexistent-cache"]
    assert p.import_errors == []


def test_registry_import_refused_is_reported_and_build_still_counts_hits() -> None:
    # Recorded right after building deps-a on a pruned engine: deps-a is cached, the rest runs.
    p = feed_all(read("rawjson-warm-app-import-refused.txt"), chunk=100)
    cached = {(s[0], s[1]): s[2] for s in steps(p)}
    assert cached == {
        ("base", 2): True,
        # deps-a's and deps-b's "WORKDIR /deps" on base are one vertex; BuildKit names it once.
        ("deps-a", 2): True, ("deps-a", 3): True, ("deps-a", 4): True,
        ("deps-b", 1): True,
        ("deps-b", 2): False, ("deps-b", 3): False, ("deps-b", 4): False,
        ("app", 1): False, ("app", 2): False, ("app", 3): False, ("app", 4): False, ("app", 5): False,
    }  # fmt: skip
    assert len(p.import_errors) == 1
    assert p.import_errors[0].startswith("127.0.0.1:1/nothere:cache: failed to configure registry cache importer")
    assert "connection refused" in p.import_errors[0]


def test_registry_cache_not_found_is_a_missing_cache() -> None:
    p = feed_all(read("rawjson-runtime-import-missing.txt"))
    assert p.import_errors == []
    assert len(p.missing_caches) == 1 and p.missing_caches[0].endswith("/nothere:cache")


def test_failed_step_and_error_lines() -> None:
    p = feed_all(read("rawjson-failed-step.txt"))
    failed = p.failed_step()
    assert failed is not None
    # A one-stage Dockerfile: BuildKit leaves the stage name out of "[2/2] RUN ...".
    assert (failed.stage, failed.number) == ("", 2)
    assert "exit code: 3" in failed.error
    assert "error: x.c:1: boom" in list(failed.logs)
    assert any(line.startswith("ERROR: failed to solve:") for line in p.error_lines())


def test_events_are_emitted_once_per_step() -> None:
    events = []
    p = BuildProgress(on_event=events.append)
    p.feed(read("rawjson-cold-deps-a.txt"))
    done = [(e.step.stage, e.step.number) for e in events if e.kind in ("done", "cached") and not e.step.is_pull]
    assert sorted(done) == [("base", 2), ("deps-a", 1), ("deps-a", 2), ("deps-a", 3), ("deps-a", 4)]


def test_memory_stays_bounded_for_long_logs() -> None:
    """A step that prints a huge log keeps only the tail; vertices are stored once."""
    p = BuildProgress()
    digest = "sha256:" + "a" * 64
    p.feed(json.dumps({"vertexes": [{"digest": digest, "name": "[s 2/2] RUN yes", "started": "2026-01-01T00:00:00Z"}]}))
    import base64

    line = base64.b64encode(b"y\n" * 50).decode()
    for _ in range(2000):
        p.feed(json.dumps({"logs": [{"vertex": digest, "stream": 1, "data": line}]}))
    assert len(p.steps) == 1
    assert len(p.steps[digest].logs) == 20


def test_parse_time_nanoseconds() -> None:
    a = parse_time("2026-11-28T07:09:19.262816919Z")
    b = parse_time("2026-11-28T07:09:20.262816919Z")
    assert a is not None and b is not None and abs((b - a) - 1.0) < 1e-6
    assert parse_time("2026-11-28T07:09:19+01:00") == parse_time("2026-11-28T06:09:19Z")
    assert parse_time(None) is None and parse_time("garbage") is None


def test_legacy_builder_cold_and_warm() -> None:
    clock = iter(range(10_000)).__next__
    cold = LegacyProgress(clock=lambda: float(clock()))
    cold.feed(read("legacy-app.txt"))
    cold.close()
    warm = LegacyProgress()
    warm.feed(read("legacy-app-warm.txt"))
    warm.close()
    expected = [
        ("app", 1), ("app", 2), ("app", 3), ("app", 4), ("app", 5),
        ("base", 2),
        ("deps-a", 1), ("deps-a", 2), ("deps-a", 3), ("deps-a", 4),
        ("deps-b", 1), ("deps-b", 2), ("deps-b", 3), ("deps-b", 4),
    ]  # fmt: skip
    assert [s[:2] for s in steps(cold)] == expected
    assert [s[:2] for s in steps(warm)] == expected
    # Cold, except deps-b's WORKDIR: the same layer deps-a made a moment before.
    assert [s[:2] for s in steps(cold) if s[2]] == [("deps-b", 1)]
    assert all(s[2] for s in steps(warm))


def test_secret_values_are_scrubbed_from_names_errors_and_logs() -> None:
    import base64
    import json as _json

    from stagecache.progress import BuildProgress

    secret = "tok-123-secret"
    item = {
        "vertexes": [
            {"digest": "d1", "name": f'[build 2/3] RUN test -z "{secret}"', "started": "2026-01-01T00:00:00Z"},
            {"digest": "d1", "name": f'[build 2/3] RUN test -z "{secret}"', "error": f"exit code: 1 ({secret})"},
        ],
        "logs": [{"vertex": "d1", "data": base64.b64encode(f"printed {secret}\n".encode()).decode()}],
    }
    p = BuildProgress(secrets=[secret])
    p.feed(_json.dumps(item) + f"\nERROR: failed to solve: {secret}\n")
    p.close()
    step = p.steps["d1"]
    texts = [step.instruction, step.error or "", *step.logs, *p.messages]
    assert all(secret not in t for t in texts), texts
    assert step.instruction == 'RUN test -z "***"' and list(step.logs) == ["printed ***"]


def test_live_display_keeps_one_status_line_per_stage_in_flight() -> None:
    import io

    from stagecache.display import LiveDisplay
    from stagecache.progress import Event, Step

    out = io.StringIO()
    d = LiveDisplay(out)
    d.stage_started("deps-a", 2, 5, "cache local")
    d.stage_started("deps-b", 3, 5, "cache local")
    d.event(Event("start", Step(stage="deps-b", number=2, total=4, instruction="RUN make", digest="x")))
    text = out.getvalue()
    last = text.rsplit("\x1b[J", 1)[-1]  # what is on screen after the last redraw
    lines = last.split("\n")
    assert len(lines) == 2, lines
    assert lines[0].startswith("[2/5] deps-a starting") and lines[1].startswith("[3/5] deps-b step 2/4 RUN make")
    d.stage_finished("deps-a", 4, 4, 1.0, "built")
    assert out.getvalue().rsplit("\x1b[J", 1)[-1].split("\n")[-1].startswith("[3/5] deps-b")
    assert "    deps-a: built, 4/4 steps cached, 1.0s\n" in out.getvalue()
    d.close()


def test_bake_target_prefix_on_cache_vertices_is_understood() -> None:
    import json as _json

    from stagecache.progress import BuildProgress

    p = BuildProgress()
    p.feed(
        _json.dumps(
            {
                "vertexes": [
                    {
                        "digest": "e1",
                        "name": "[app] exporting cache to client directory",
                        "started": "2026-01-01T00:00:00Z",
                        "completed": "2026-01-01T00:00:02Z",
                    },
                    {
                        "digest": "i1",
                        "name": "[app] importing cache manifest from reg/app:cache-app",
                        "error": "reg/app:cache-app: not found",
                    },
                ]
            }
        )
    )
    p.close()
    assert p.export_seconds == 2.0
    assert p.missing_caches == ["reg/app:cache-app"]


def test_a_bake_session_reports_each_step_once_across_targets() -> None:
    from stagecache.progress import Step
    from stagecache.session import one_per_step as _one_per_step

    occurrences = [
        Step("deps-b", 1, 2, "WORKDIR /deps/b", digest="a"),  # never started in target deps-b
        Step("deps-b", 1, 2, "WORKDIR /deps/b", digest="b", cached=True, started=1.0, completed=1.0),
        Step("deps-b", 2, 2, "COPY b.txt .", digest="c"),
        Step("deps-b", 2, 2, "COPY b.txt .", digest="d", started=1.0, completed=2.5),  # ran in target app
        Step("deps-b", 2, 2, "COPY b.txt .", digest="e", cached=True, started=1.0, completed=1.0),
        Step("deps-a", 3, 3, "RUN make", digest="f"),  # started in no target at all
    ]
    kept = {s.number: s for s in _one_per_step(occurrences, succeeded=True)}
    assert kept[1].digest == "b" and kept[1].cached
    assert kept[2].digest == "d" and not kept[2].cached  # the work was done once: a miss
    assert kept[3].cached  # not executed in a bake that succeeded: its result came from cache
    failed = {s.number: s for s in _one_per_step(occurrences, succeeded=False)}
    assert not failed[3].cached  # after a failure, never started means not reached
