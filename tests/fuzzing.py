"""Hypothesis strategies shared by the fuzz tests: random edits of a valid nested document.

Importable from every test folder: pytest puts `tests/` (the folder of the root conftest) on sys.path.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a nested mapping/list, the root included."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw, template: Any, values: st.SearchStrategy, keys: st.SearchStrategy, edits: tuple[int, int],
            actions: Sequence[str], root_odds: int) -> Any:
    """`template` with `edits` random edits, each one of `actions` at a random path:
    "replace" (by one of `values`), "remove", "add" (a key of `keys`, or a list item) or "empty".
    An edit at the root replaces the whole document, once in `root_odds` times."""
    data = copy.deepcopy(template)
    for _ in range(draw(st.integers(*edits))):
        path = draw(st.sampled_from(paths(data)))
        if not path:
            data = draw(values) if draw(st.integers(0, root_odds - 1)) == 0 else data
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(list(actions)))
        target = parent[path[-1]]
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "remove":
            del parent[path[-1]]
        elif action == "add" and isinstance(target, dict):
            target[draw(keys)] = draw(values)
        elif action == "add" and isinstance(target, list):
            target.append(draw(values))
        elif action == "empty" and isinstance(target, (dict, list)):
            target.clear()
    return data
