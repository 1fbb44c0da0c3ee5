"""The hub as it serves the registry's datasets today: every builder loads, with the splits and columns its
converters read. Needs the network, so it runs only when asked for and when the hub is not offline:

    HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 pytest -m online tests/study/tasks/test_hub_online.py

(the same check as `xstudy data check-hub --json`). The comparison itself is tested offline in
tests/study/test_hub_check.py.
"""

from __future__ import annotations

import pytest

from study import hub_check

pytestmark = [
    pytest.mark.online,
    pytest.mark.skipif(hub_check.offline() is not None,
                       reason=f"{hub_check.offline()} is set: the online hub check needs the Hugging Face hub"),
]

REFERENCES = hub_check.references()


@pytest.mark.parametrize("key", list(REFERENCES), ids=["/".join(str(x) for x in k if x) for k in REFERENCES])
def test_builder_loads_with_what_its_converters_read(key):
    result = hub_check.check_references(REFERENCES[key])
    problems = [f"{r['task']} {r['split']} {r['language']}: {p}" for r in result.references for p in r["problems"]]
    assert result.ok, "\n".join([result.error or ""] + problems)
