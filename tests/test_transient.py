"""Which failures are tried again: the races between builds of one project (measured with four
concurrent bakes, see stagecache.transient), and nothing else."""

from __future__ import annotations

import pytest

from stagecache import transient


@pytest.mark.parametrize(
    "text",
    [
        'ERROR: failed to solve: image "127.0.0.1:5000/app:deps-a": already exists',
        'failed commit on ref "index-sha256:1f": unexpected status from PUT request to http://127.0.0.1:5000/v2/app/'
        "manifests/deps-b: 400 Bad Request: manifest list/index references to blobs and/or manifests are missing",
        'error: failed to do request: Head "http://127.0.0.1:5000/v2/app/manifests/toolchain": '
        "500 Internal Server Error",
        'failed commit on ref "manifest-sha256:26307f": unexpected status from PUT request to '
        "http://127.0.0.1:47989/v2/t4f40a3dc/diamond/manifests/base: 400 Bad Request",
        "failed to push 127.0.0.1:5000/app:cache-a: unexpected status: 503 Service Unavailable",
        "read tcp 127.0.0.1:41234->127.0.0.1:5000: read: connection reset by peer",
    ],
)
def test_races_and_server_errors_are_transient(text: str) -> None:
    assert transient.reason("some output\n" + text + "\nmore") == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        'ERROR: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2',
        "failed to push 127.0.0.1:5000/app:a: unauthorized: authentication required",
        "127.0.0.1:5000/nope/none:1: not found",
        "denied: requested access to the resource is denied",
        "server listening on port 5000",
    ],
)
def test_real_failures_are_not(text: str) -> None:
    assert transient.reason(text) is None


def test_the_backoff_doubles() -> None:
    waits: list[float] = []
    for attempt in (1, 2, 3):
        transient.pause(attempt, waits.append)
    assert waits == [0.5, 1.0, 2.0]
