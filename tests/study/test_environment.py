"""The driver's settings reach the trials: what is captured, and how a worker applies it."""

from __future__ import annotations

import os

from study import environment


def test_captures_the_study_settings_and_nothing_else():
    env = {"XSTUDY_CACHE_DIR": "/shared/cache", "XSTUDY_FAULT_INJECT": "raise@10", "HF_HUB_OFFLINE": "1",
           "HF_HOME": "/shared/hf", "AWS_SECRET_ACCESS_KEY": "s", "PATH": "/bin", "RAY_ADDRESS": "auto",
           "XSTUDYX": "not ours"}
    assert environment.captured(env) == {"HF_HOME": "/shared/hf", "HF_HUB_OFFLINE": "1",
                                         "XSTUDY_CACHE_DIR": "/shared/cache", "XSTUDY_FAULT_INJECT": "raise@10"}


def test_the_driver_wins_and_what_it_leaves_unset_stays_as_the_node_has_it(monkeypatch):
    monkeypatch.setenv("XSTUDY_CACHE_DIR", "/node/cache")
    monkeypatch.setenv("XSTUDY_DATA_DIR", "/node/data")
    environment.apply({"XSTUDY_DATA_DIR": "/driver/data"})
    assert os.environ["XSTUDY_DATA_DIR"] == "/driver/data"
    assert os.environ["XSTUDY_CACHE_DIR"] == "/node/cache"
    environment.apply(None)  # a trainable built before settings were forwarded
    assert os.environ["XSTUDY_DATA_DIR"] == "/driver/data"
