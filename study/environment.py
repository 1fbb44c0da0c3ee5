"""The settings a study's trials run under, carried from the driver to every worker that runs them.

Ray's workers inherit the environment of the raylet of their node, and on a cluster started with
`ray start` that is the environment of whoever started the node, not of the driver that runs the study.
So the variables that change what a trial does (`XSTUDY_*`: the cache, the data folder, require-prepared,
the fault-injection test hook; and the Hugging Face offline switches and home) are captured from the
driver when the study's trainable is built, and every Tune trial and every Ray Train worker sets them
before it runs. A variable set on the driver wins over the node's own value; one that the driver does not
set is left as the node has it (a node-local cache folder stays valid).

`xstudy resume` captures them afresh: a resumed study runs under the resuming driver's settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

FORWARDED_PREFIXES = ("XSTUDY_",)
FORWARDED_NAMES = ("HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def captured(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The forwarded variables that are set in `environ` (default: this process's environment)."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in sorted(environ.items()) if k.startswith(FORWARDED_PREFIXES) or k in FORWARDED_NAMES}


def apply(variables: Mapping[str, str] | None) -> None:
    """Set the captured variables in this process (a trial's or a Train worker's) before it runs."""
    os.environ.update(variables or {})
