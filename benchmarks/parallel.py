"""Benchmark 2: parallel stages on the diamond example, cold.

The copy's deps-a and deps-b each burn a few seconds of real CPU (md5 of 1 GB of
zeros). Every run starts cold (BuildKit cache pruned, local cache removed).
Variants, alternated: `bake --jobs 2`, `bake --jobs 1`, and the sequential script
a team writes by hand (the same docker commands). Target: jobs 2 at most 0.7x of
the sequential wall time on a 2-core machine.

    .venv/bin/python benchmarks/parallel.py [REPEAT]

Prunes the engine's whole build cache: run it on a dedicated engine.
"""

from __future__ import annotations

import json
import shutil
import sys

from _common import STAGECACHE, alternate, copy_example, hand_script, run, summary, versions, write_result

CPU = "dd if=/dev/zero bs=1M count=1000 2>/dev/null | md5sum > /tmp/burn"


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    project = copy_example("diamond")
    dockerfile = project / "Dockerfile"
    text = dockerfile.read_text()
    text = text.replace('RUN sleep 1 && echo "library a', f'RUN {CPU} && echo "library a')
    text = text.replace('RUN sleep 1 && echo "library b', f'RUN {CPU} && echo "library b')
    dockerfile.write_text(text)
    script = hand_script(project, project.parent / "by-hand.sh")

    def cold() -> None:
        run("docker", "buildx", "prune", "--all", "--force")
        shutil.rmtree(project / ".stagecache", ignore_errors=True)

    def bake(jobs: int):
        return lambda: run(STAGECACHE, "bake", "-C", str(project), "--progress", "plain", "--jobs", str(jobs))

    times = alternate(
        {"by-hand": lambda: run("sh", str(script)), "jobs-1": bake(1), "jobs-2": bake(2)}, repeat, before=cold
    )
    result = {"benchmark": "parallel", "repeat": repeat, "versions": versions(), "seconds": summary(times, "by-hand")}
    path = write_result("parallel", result)
    print(json.dumps(result, indent=2))
    ratio = result["seconds"]["jobs-2"]["ratio_to_by-hand"]
    print(f"jobs 2 / sequential by hand = {ratio:.3f} (target <= 0.70): {'OK' if ratio <= 0.70 else 'MISSED'}; {path}")


if __name__ == "__main__":
    main()
