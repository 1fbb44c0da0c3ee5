"""The XTREME / XTREME-R language lists against the official scorer's lists and the papers."""

from __future__ import annotations

import pytest

from study.tasks import languages as L

# evaluate.py (google-research/xtreme HEAD 838c13b), XTREME_TASK2LANGS, in its order
OFFICIAL_XTREME = {
    "pawsx": "de,en,es,fr,ja,ko,zh",
    "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh",
    "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
            "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu",
    "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh",
    "bucc2018": "de,fr,ru,zh",
    "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
               "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu",
    "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi",
    "mlqa": "en,es,de,ar,hi,vi,zh",
    "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te",
}

# evaluate.py, XTREME_R_TASK2LANGS (its lareqa list is empty)
OFFICIAL_XTREME_R = {
    "xnli": OFFICIAL_XTREME["xnli"],
    "panx": OFFICIAL_XTREME["panx"] + ",qu,pl,uk,az,lt,pa,gu,ro",
    "udpos": OFFICIAL_XTREME["udpos"] + ",lt,pl,uk,wo,ro",
    "tatoeba": OFFICIAL_XTREME["tatoeba"] + ",az,lt,pl,uk,ro",
    "xcopa": "et,ht,id,it,qu,sw,ta,th,tr,vi,zh",
    "mewslix": "ar,de,en,es,fa,ja,pl,ro,ta,tr,uk",
    "xquad": OFFICIAL_XTREME["xquad"] + ",ro",
    "mlqa": OFFICIAL_XTREME["mlqa"],
    "tydiqa": OFFICIAL_XTREME["tydiqa"],
}

# REFERENCE.md's XTREME table (space separated, any order)
REFERENCE_XTREME = {
    "xnli": "ar bg de el en es fr hi ru sw th tr ur vi zh",
    "pawsx": "de en es fr ja ko zh",
    "udpos": "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh",
    "panx": "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw yo "
            "my zh kk tr et fi hu",
    "xquad": "en es de el ru tr ar vi th zh hi",
    "mlqa": "en es de ar hi vi zh",
    "tydiqa": "en ar bn fi id ko ru sw te",
    "bucc2018": "de fr ru zh",
    "tatoeba": "af ar bg bn de el es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr nl pt ru sw ta te th tl tr "
               "ur vi zh",
}


def test_xtreme_lists_are_the_official_ones_in_the_official_order():
    assert list(L.XTREME_TASK_LANGUAGES) == list(OFFICIAL_XTREME)
    for task, codes in OFFICIAL_XTREME.items():
        assert L.XTREME_TASK_LANGUAGES[task] == tuple(codes.split(",")), task


def test_xtreme_lists_match_the_reference_table_and_paper_counts():
    for task, codes in REFERENCE_XTREME.items():
        assert set(L.XTREME_TASK_LANGUAGES[task]) == set(codes.split()), task
    counts = {task: len(langs) for task, langs in L.XTREME_TASK_LANGUAGES.items()}
    assert counts == {"pawsx": 7, "xnli": 15, "panx": 40, "udpos": 33, "bucc2018": 4, "tatoeba": 36,
                      "xquad": 11, "mlqa": 7, "tydiqa": 9}
    assert len(L.XTREME_LANGUAGES) == 40


def test_xtreme_r_lists_are_the_official_ones_except_lareqa():
    assert set(L.XTREME_R_TASK_LANGUAGES) == set(OFFICIAL_XTREME_R) | {"lareqa"}
    for task, codes in OFFICIAL_XTREME_R.items():
        assert L.XTREME_R_TASK_LANGUAGES[task] == tuple(codes.split(",")), task
    # evaluate.py has none; XQuAD-R's 11 languages
    assert set(L.XTREME_R_TASK_LANGUAGES["lareqa"]) == set("ar de el en es hi ru th tr vi zh".split())
    assert len(L.XTREME_R_LANGUAGES) == 50  # the XTREME-R paper's 50 languages


def test_no_language_is_listed_twice_for_a_task():
    for benchmark, tasks in L.TASK_LANGUAGES.items():
        for task, langs in tasks.items():
            assert len(set(langs)) == len(langs), (benchmark, task)


def test_groups_cover_every_task_once():
    assert L.TASK_GROUPS["xtreme"] == {
        "classification": ("pawsx", "xnli"), "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"), "retrieval": ("bucc2018", "tatoeba"),
    }
    assert L.TASK_GROUPS["xtreme-r"]["retrieval"] == ("tatoeba", "mewslix", "lareqa")
    for benchmark, groups in L.TASK_GROUPS.items():
        grouped = [t for tasks in groups.values() for t in tasks]
        assert sorted(grouped) == sorted(L.TASK_LANGUAGES[benchmark]), benchmark


def test_metric_keys_are_the_official_names():
    # Every benchmark task is a registered task whose entry carries the official score keys and name.
    from study.tasks import registry

    tasks = set(L.XTREME_TASK_LANGUAGES) | set(L.XTREME_R_TASK_LANGUAGES)
    entries = {t: registry.get(t) for t in tasks}
    assert {t for t, e in entries.items() if e.score_keys == ("exact_match", "f1")} == {"xquad", "mlqa", "tydiqa"}
    assert entries["mewslix"].score_keys == entries["lareqa"].score_keys == ("map@20",)
    assert entries["udpos"].score_keys == entries["panx"].score_keys == entries["bucc2018"].score_keys == ("f1",)
    assert entries["tatoeba"].score_keys == entries["xnli"].score_keys == ("accuracy",)
    assert entries["panx"].display_name == "WikiANN-NER" and entries["tydiqa"].display_name == "TyDiQA-GoldP"
    assert len({e.display_name for e in entries.values()}) == len(tasks)


def test_every_benchmark_language_has_a_family_and_a_script():
    assert set(L.XTREME_R_LANGUAGES) <= set(L.LANGUAGES)
    # XTREME's 12 families and two isolates (Basque, Korean)
    xtreme_families = {L.LANGUAGES[c].family for c in L.XTREME_LANGUAGES}
    assert xtreme_families == {
        "Afro-Asiatic", "Austro-Asiatic", "Austronesian", "Dravidian", "Indo-European", "Japonic",
        "Kartvelian", "Kra-Dai", "Niger-Congo", "Sino-Tibetan", "Turkic", "Uralic", "Basque", "Koreanic",
    }
    assert L.language("hi").script == "Devanagari"
    assert L.language("zh").family == "Sino-Tibetan"
    assert L.language("ur").script == "Arabic"


def test_lookups_name_what_is_known():
    assert L.task_languages("xtreme", "bucc2018") == ("de", "fr", "ru", "zh")
    with pytest.raises(ValueError, match="xtreme-r"):
        L.task_languages("xtreme-x", "xnli")
    with pytest.raises(ValueError, match="pawsx"):
        L.task_languages("xtreme-r", "pawsx")
    with pytest.raises(KeyError, match="known"):
        L.language("xx")
