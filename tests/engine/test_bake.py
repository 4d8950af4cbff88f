"""bake on the real engine, on a simulated fresh CI runner, for every cache mode.

Expected hits and misses are asserted step by step (stage -> {step: cached}),
from BuildKit's own progress stream (or the classic builder's output).
"""

from __future__ import annotations

import pytest

from tests.engine.conftest import Project, all_cached, hits

# Per example: the file an early stage copies in after its expensive steps, a file
# only the last stage uses, and the expected hits after a fresh runner + each edit.
CASES = {
    "hello": {
        "source": "hello.c",
        "late": "motd.txt",
        "edit_late": {
            "compile-image": {2: True, 3: True, 4: True, 5: True},
            "runtime-image": {2: False, 3: False},
        },
        "edit_source": {
            "compile-image": {2: True, 3: True, 4: False, 5: False},
            "runtime-image": {2: True, 3: False},
        },
    },
    "diamond": {
        "source": "a.txt",
        "late": "motd.txt",
        "edit_late": {
            "base": {2: True},
            "deps-a": {1: True, 2: True, 3: True, 4: True},
            "deps-b": {1: True, 2: True, 3: True, 4: True},
            "app": {1: True, 2: True, 3: True, 4: True, 5: True},
            "runtime": {2: False, 3: False},
        },
        "edit_source": {
            "base": {2: True},
            "deps-a": {1: True, 2: True, 3: False, 4: False},
            "deps-b": {1: True, 2: True, 3: True, 4: True},
            "app": {1: True, 2: False, 3: False, 4: False, 5: False},
            "runtime": {2: True, 3: False},
        },
    },
}
MODES = [("registry", "min"), ("registry", "max"), ("inline", "max"), ("local", "max"), ("classic", "max")]


@pytest.mark.parametrize("example", sorted(CASES))
@pytest.mark.parametrize(("mode", "registry_mode"), MODES, ids=[f"{m}-{r}" if m == "registry" else m for m, r in MODES])
def test_every_stage_cached_on_a_fresh_runner(make_project, example: str, mode: str, registry_mode: str) -> None:
    case = CASES[example]
    p: Project = make_project(example)
    p.configure(mode, registry_mode)
    p.fresh_runner()

    cold = p.bake()
    assert cold.status == "success" and cold.cold
    assert all(not c for stage in hits(cold).values() for c in stage.values())
    expected_stages = list(case["edit_late"])
    assert [s.stage for s in cold.stages] == expected_stages

    p.fresh_runner()
    again = p.bake()
    assert all_cached(again), hits(again)
    assert hits(again) == {s: dict.fromkeys(steps, True) for s, steps in case["edit_late"].items()}

    p.append(case["late"], "edited late")
    p.fresh_runner()
    assert hits(p.bake()) == case["edit_late"]

    p.append(case["source"], "/* edited source */")
    p.fresh_runner()
    assert hits(p.bake()) == case["edit_source"]


HELLO_COMPILE_REBUILT = {2: False, 3: False, 4: False, 5: False}


def test_classic_builder_with_only_the_final_image_rebuilds_the_compile_stage(make_project) -> None:
    """The well-known broken setup: final image pushed, pulled and used as --cache-from."""
    p: Project = make_project("hello")
    p.configure("classic")
    p.fresh_runner()
    p.bake(scope="final")
    p.fresh_runner()
    result = p.bake(scope="final")
    assert hits(result) == {"compile-image": HELLO_COMPILE_REBUILT, "runtime-image": {2: True, 3: True}}
    # Only the final image exists in the registry.
    assert p.registry.tags(p.repo) == ["runtime-image"]


@pytest.mark.parametrize(("mode", "registry_mode"), [("inline", "max"), ("registry", "min")])
def test_buildkit_final_only_cache_loses_the_compile_stage_on_a_source_edit(
    make_project, mode: str, registry_mode: str
) -> None:
    p: Project = make_project("hello")
    p.configure(mode, registry_mode)
    p.fresh_runner()
    p.bake(scope="final")
    # No change: BuildKit matches the final layers' keys, so everything is a hit...
    p.fresh_runner()
    assert all_cached(p.bake(scope="final"))
    # ...but a source edit rebuilds the toolchain step before COPY hello.c: it was never exported.
    p.append("hello.c", "/* edited */")
    p.fresh_runner()
    assert hits(p.bake(scope="final")) == {"compile-image": HELLO_COMPILE_REBUILT, "runtime-image": {2: True, 3: False}}
