import pandas as pd
import pytest

from analysis.languages import UNKNOWN, language_gain_table, language_table


def _gains(cells):
    """language-gains rows from (model, intermediate task, steps, target task, language, gain) tuples."""
    columns = ["model", "intermediate_task", "intermediate_steps", "target_task", "language", "gain"]
    return pd.DataFrame(cells, columns=columns).assign(model_params=lambda f: f["model"].map({"s": 1, "l": 2}))


CELLS = [
    # step-0 rows are dropped (their gain is 0 by construction)
    ("s", "none", 0, "xnli", "de", 0.0),
    # de: two target tasks -> first the mean over its cells, (2 + 4) / 2 = 3
    ("s", "mnli", 100, "xnli", "de", 2.0),
    ("s", "mnli", 100, "panx", "de", 4.0),
    ("s", "mnli", 100, "xnli", "sw", -1.0),
    ("s", "mnli", 100, "xnli", "hi", 6.0),
    ("s", "mnli", 100, "xnli", "xx", 9.0),  # a code the property table does not list
    ("l", "mnli", 100, "xnli", "de", 1.0),
]


def test_per_language_means_over_tasks():
    table = language_gain_table(_gains(CELLS))
    small = table[table.model == "s"].set_index("language")
    assert small["gain"].to_dict() == {"de": 3.0, "hi": 6.0, "sw": -1.0, "xx": 9.0}
    assert small.loc["de", "n_cells"] == 2
    assert set(table["intermediate_steps"]) == {100}
    assert table["model"].tolist()[0] == "s"  # sizes from small to large parameters


def test_grouped_by_family_each_language_weighs_the_same():
    table = language_gain_table(_gains(CELLS), by="family").query("model == 's'").set_index("family")
    # de and hi are Indo-European: mean(3, 6); de's two tasks do not count twice
    assert table.loc["Indo-European", "gain"] == pytest.approx(4.5)
    assert table.loc["Indo-European", "languages"] == "de,hi"
    assert table.loc["Niger-Congo", "gain"] == -1.0
    assert table.loc[UNKNOWN, "gain"] == 9.0
    scripts = language_gain_table(_gains(CELLS), by="script").query("model == 's'").set_index("script")
    assert scripts.loc["Latin", "gain"] == pytest.approx(1.0)  # de (3) and sw (-1)
    assert scripts.loc["Devanagari", "gain"] == 6.0


def test_a_property_table_of_ones_own_and_filters():
    properties = pd.DataFrame({"language": ["de", "sw", "hi"], "resource": ["high", "low", "high"]})
    table = language_gain_table(_gains(CELLS), by="resource", properties=properties).query("model == 's'")
    assert table.set_index("resource")["gain"].to_dict() == {"high": 4.5, "low": -1.0, UNKNOWN: 9.0}
    only_panx = language_gain_table(_gains(CELLS), target_tasks=["panx"])
    assert only_panx[["model", "language", "gain"]].values.tolist() == [["s", "de", 4.0]]
    with pytest.raises(ValueError, match="'resource'"):
        language_gain_table(_gains(CELLS), by="resource")


def test_the_language_table_has_the_xtreme_languages():
    table = language_table()
    assert {"language", "name", "family", "genus", "script"} <= set(table.columns)
    row = table.set_index("language").loc["ur"]
    assert (row["family"], row["script"]) == ("Indo-European", "Arabic")
    extra = pd.DataFrame([{"language": "xa", "family": "generated", "script": "Latin"},
                          {"language": "ur", "family": "Other", "script": "Other"}])
    merged = language_table(extra).set_index("language")
    assert merged.loc["xa", "family"] == "generated" and merged.loc["ur", "family"] == "Other"
    assert merged.index.is_unique
