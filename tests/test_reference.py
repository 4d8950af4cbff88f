"""Image references checked as distribution/reference (and go-digest) check them: the cases
BuildKit was seen to accept or refuse on this project's engine."""

from __future__ import annotations

import pytest

from stagecache import reference

HEX64 = "a" * 64


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("docker.io/library/x", None),
        (f"localhost:5000/a/b:c@sha256:{HEX64}", None),
        ("[::1]:5000/a:b", None),
        ("x:UPPER", None),
        ("A/b", None),  # an upper-case first component is a registry host
        ("x:" + "t" * 128, None),
        ("b" * 247, None),
        ("a.io/" + "c" * 251, None),  # 256 characters, but the limit is on the path
        ("b" * 248, "repository name must not be more than 255 characters"),  # library/ + 248
        ("x@sha256:" + "a" * 32, "invalid checksum digest length"),
        ("x@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("x@sha256:" + "A" * 64, "invalid checksum digest format"),
        ("x@sha512:" + HEX64, "invalid checksum digest length"),
        ("Build", "invalid reference format: repository name must be lowercase"),
        ("golang:-alpine", "invalid reference format"),
        ("stage-", "invalid reference format"),
        ("a" * 64, "invalid repository name, cannot specify 64-byte hexadecimal strings"),
    ],
)
def test_references(ref: str, problem: str | None) -> None:
    assert reference.problem(ref) == problem


@pytest.mark.parametrize(
    ("image", "names"),
    [
        ("ghcr.io/org/app", True),
        ("127.0.0.1:5000/app", True),
        ("localhost/app", True),
        ("[::1]:5000/app", True),
        ("Registry/app", True),  # docker reads an upper-case first component as a host too
        ("org/app", False),
        ("app", False),
        ("localhost", False),  # one component: an image called localhost on Docker Hub
        ("stagecache/hello", False),
    ],
)
def test_which_images_name_their_registry(image: str, names: bool) -> None:
    assert reference.names_registry(image) is names
