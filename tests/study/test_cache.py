"""study.cache: where the cache lives, when trials must find everything prepared, and content fingerprints
that do not change between processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from study import cache


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), (" Yes ", True), ("ON", True),
                                             ("", False), ("0", False), ("no", False), ("2", False)])
def test_require_prepared_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(cache.REQUIRE_PREPARED_ENV, value)
    assert cache.require_prepared() is expected


def test_the_cache_root_is_the_environment_or_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XSTUDY_CACHE_DIR", str(tmp_path))
    assert cache.cache_root() == tmp_path
    monkeypatch.delenv("XSTUDY_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_root() == tmp_path / "home" / ".cache" / "xstudy"


def test_fingerprints_follow_content_not_key_order_and_not_the_process():
    a = cache.fingerprint({"b": 1, "a": [1, 2]}, "x", Path("/data/f"))
    assert a == cache.fingerprint({"a": [1, 2], "b": 1}, "x", "/data/f"), "key order and Path vs str do not matter"
    assert len(a) == 24 and int(a, 16) >= 0
    assert a != cache.fingerprint({"b": 1, "a": [2, 1]}, "x", "/data/f")
    assert a != cache.fingerprint("x", {"b": 1, "a": [1, 2]}, "/data/f"), "the parts' order matters"
    code = "from study.cache import fingerprint; print(fingerprint({'b': 1, 'a': [1, 2]}, 'x', '/data/f'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert other.stdout.strip() == a, "a salted hash() would differ in another process"


def test_not_prepared_is_a_runtime_error():
    assert issubclass(cache.NotPrepared, RuntimeError)
