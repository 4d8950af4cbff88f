"""Runner logic that needs no engine: how docker's busy time is counted."""

from __future__ import annotations

import threading
import time

from stagecache.runner import Runner, _timed


class Sleeper(Runner):
    """A runner whose one 'docker call' is a sleep, to count busy time."""

    @_timed
    def call(self, seconds: float, inner: float = 0.0) -> None:
        time.sleep(seconds)
        if inner:
            self.call(inner)  # a timed call inside a timed call counts once


def test_overlapping_calls_count_once_and_gaps_not_at_all() -> None:
    runner = Sleeper(env={})
    barrier = threading.Barrier(2)

    def work() -> None:
        barrier.wait()
        runner.call(0.3)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Two parallel 0.3 s calls: docker was busy for about 0.3 s, not 0.6 s.
    assert 0.3 <= runner.docker_seconds < 0.5
    time.sleep(0.2)  # idle: not counted
    runner.call(0.1, inner=0.1)
    assert 0.5 <= runner.docker_seconds < 0.75
