"""XTREME and XTREME-R: the languages of each task, the task groups, and a language table.

These describe the benchmarks' composition. What a task is (its format, metric keys, display name,
submission files) is its registry entry's (`study.tasks.registry`, `real_tasks`).

The per-task language lists keep the order of the official scorer (google-research/xtreme `evaluate.py`,
HEAD 838c13b): the per-task average is a plain float sum in that order, so another order could change
its last bits. The sets agree with the papers (Hu et al. 2020, Table 1; Ruder et al. 2021, Table 1).

Where this module departs from `evaluate.py`, on purpose:
- XTREME-R `lareqa`: the script has an empty language list (and no reader and no metric). Here it has
  XQuAD-R's 11 languages, the languages of LAReQA's evaluation (Roy et al. 2020).
- XTREME-R groups: the script leaves `lareqa` out of "retrieval" and adds a "multi_choice" group that
  holds `xcopa` alone (which is already in "classification"). Here the groups are the paper's four.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Mapping

Benchmark = Literal["xtreme", "xtreme-r"]
BENCHMARKS: tuple[str, ...] = ("xtreme", "xtreme-r")


def _langs(codes: str) -> tuple[str, ...]:
    return tuple(codes.split())


# ------------------------------------------------------------------------------------------- XTREME
# Task order: the order of `XTREME_TASK2LANGS` in evaluate.py.
XTREME_TASK_LANGUAGES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "pawsx": _langs("de en es fr ja ko zh"),
    "xnli": _langs("ar bg de el en es fr hi ru sw th tr ur vi zh"),
    "panx": _langs(
        "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw yo "
        "my zh kk tr et fi hu"
    ),
    "udpos": _langs(
        "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh"
    ),
    "bucc2018": _langs("de fr ru zh"),
    "tatoeba": _langs(
        "ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw zh kk tr "
        "et fi hu"
    ),
    "xquad": _langs("en es de el ru tr ar vi th zh hi"),
    "mlqa": _langs("en es de ar hi vi zh"),
    "tydiqa": _langs("en ar bn fi id ko ru sw te"),
})

# ----------------------------------------------------------------------------------------- XTREME-R
# XTREME-R drops PAWS-X and BUCC, adds XCOPA, Mewsli-X and LAReQA, and adds languages to UD-POS
# (UD 2.7), WikiANN, Tatoeba and XQuAD. Order: `XTREME_R_TASK2LANGS` in evaluate.py.
XTREME_R_TASK_LANGUAGES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "xnli": XTREME_TASK_LANGUAGES["xnli"],
    "panx": XTREME_TASK_LANGUAGES["panx"] + _langs("qu pl uk az lt pa gu ro"),
    "udpos": XTREME_TASK_LANGUAGES["udpos"] + _langs("lt pl uk wo ro"),
    "tatoeba": XTREME_TASK_LANGUAGES["tatoeba"] + _langs("az lt pl uk ro"),
    "xcopa": _langs("et ht id it qu sw ta th tr vi zh"),
    # Empty in evaluate.py; XQuAD-R's languages (see the module docstring).
    "lareqa": _langs("ar de el en es hi ru th tr vi zh"),
    "mewslix": _langs("ar de en es fa ja pl ro ta tr uk"),
    "xquad": XTREME_TASK_LANGUAGES["xquad"] + _langs("ro"),
    "mlqa": XTREME_TASK_LANGUAGES["mlqa"],
    "tydiqa": XTREME_TASK_LANGUAGES["tydiqa"],
})

# Tatoeba's files are named by ISO 639-3 codes (LASER `tatoeba.{code}-eng.{code}`); XTREME's mapping, with
# Persian as `pes` (Iranian Persian), Swahili as `swh` and Chinese as `cmn` (Mandarin). One entry per
# XTREME-R Tatoeba language (tested).
TATOEBA_CODES: Mapping[str, str] = MappingProxyType({
    "ar": "ara", "he": "heb", "vi": "vie", "id": "ind", "jv": "jav", "tl": "tgl", "eu": "eus", "ml": "mal",
    "ta": "tam", "te": "tel", "af": "afr", "nl": "nld", "de": "deu", "el": "ell", "bn": "ben", "hi": "hin",
    "mr": "mar", "ur": "urd", "fa": "pes", "fr": "fra", "it": "ita", "pt": "por", "es": "spa", "bg": "bul",
    "ru": "rus", "ja": "jpn", "ka": "kat", "ko": "kor", "th": "tha", "sw": "swh", "zh": "cmn", "kk": "kaz",
    "tr": "tur", "et": "est", "fi": "fin", "hu": "hun", "az": "aze", "lt": "lit", "pl": "pol", "uk": "ukr",
    "ro": "ron",
})

TASK_LANGUAGES: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "xtreme": XTREME_TASK_LANGUAGES,
    "xtreme-r": XTREME_R_TASK_LANGUAGES,
})

# Groups (categories) as in the papers. The overall score is the mean over tasks, not over these groups.
TASK_GROUPS: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "xtreme": MappingProxyType({
        "classification": ("pawsx", "xnli"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("bucc2018", "tatoeba"),
    }),
    "xtreme-r": MappingProxyType({
        "classification": ("xnli", "xcopa"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("tatoeba", "mewslix", "lareqa"),
    }),
})


def task_languages(benchmark: str, task: str) -> tuple[str, ...]:
    """The languages a task is scored on in a benchmark; errors name the known values."""
    if benchmark not in TASK_LANGUAGES:
        raise ValueError(f"unknown benchmark {benchmark!r}; known: {list(BENCHMARKS)}")
    tasks = TASK_LANGUAGES[benchmark]
    if task not in tasks:
        raise ValueError(f"{benchmark} has no task {task!r}; its tasks: {list(tasks)}")
    return tasks[task]


# ------------------------------------------------------------------------------------ language table
@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1
    name: str
    family: str
    genus: str  # the branch within the family; the family again for isolates
    script: str  # the script the benchmark data is written in (ISO 15924 names)


def _table(rows: str) -> Mapping[str, Language]:
    table = {}
    for row in rows.strip().splitlines():
        code, name, family, genus, script = (cell.strip() for cell in row.split("|"))
        table[code] = Language(code, name, family, genus, script)
    return MappingProxyType(table)


# Families follow the XTREME paper (12 families and two isolates, Basque and Korean). XTREME-R adds
# Quechuan and Haitian Creole; a creole is its own family here, since it is not usually assigned to the
# family of the language that gave it its words.
LANGUAGES: Mapping[str, Language] = _table("""
af | Afrikaans  | Indo-European  | Germanic      | Latin
ar | Arabic     | Afro-Asiatic   | Semitic       | Arabic
az | Azerbaijani| Turkic         | Oghuz         | Latin
bg | Bulgarian  | Indo-European  | Slavic        | Cyrillic
bn | Bengali    | Indo-European  | Indo-Aryan    | Bengali
de | German     | Indo-European  | Germanic      | Latin
el | Greek      | Indo-European  | Greek         | Greek
en | English    | Indo-European  | Germanic      | Latin
es | Spanish    | Indo-European  | Romance       | Latin
et | Estonian   | Uralic         | Finnic        | Latin
eu | Basque     | Basque         | Basque        | Latin
fa | Persian    | Indo-European  | Iranian       | Arabic
fi | Finnish    | Uralic         | Finnic        | Latin
fr | French     | Indo-European  | Romance       | Latin
gu | Gujarati   | Indo-European  | Indo-Aryan    | Gujarati
he | Hebrew     | Afro-Asiatic   | Semitic       | Hebrew
hi | Hindi      | Indo-European  | Indo-Aryan    | Devanagari
ht | Haitian Creole | Creole     | French-based creole | Latin
hu | Hungarian  | Uralic         | Ugric         | Latin
id | Indonesian | Austronesian   | Malayo-Polynesian | Latin
it | Italian    | Indo-European  | Romance       | Latin
ja | Japanese   | Japonic        | Japonic       | Japanese
jv | Javanese   | Austronesian   | Malayo-Polynesian | Latin
ka | Georgian   | Kartvelian     | Kartvelian    | Georgian
kk | Kazakh     | Turkic         | Kipchak       | Cyrillic
ko | Korean     | Koreanic       | Koreanic      | Hangul
lt | Lithuanian | Indo-European  | Baltic        | Latin
ml | Malayalam  | Dravidian      | South Dravidian | Malayalam
mr | Marathi    | Indo-European  | Indo-Aryan    | Devanagari
ms | Malay      | Austronesian   | Malayo-Polynesian | Latin
my | Burmese    | Sino-Tibetan   | Lolo-Burmese  | Myanmar
nl | Dutch      | Indo-European  | Germanic      | Latin
pa | Punjabi    | Indo-European  | Indo-Aryan    | Gurmukhi
pl | Polish     | Indo-European  | Slavic        | Latin
pt | Portuguese | Indo-European  | Romance       | Latin
qu | Quechua    | Quechuan       | Quechuan      | Latin
ro | Romanian   | Indo-European  | Romance       | Latin
ru | Russian    | Indo-European  | Slavic        | Cyrillic
sw | Swahili    | Niger-Congo    | Bantu         | Latin
ta | Tamil      | Dravidian      | South Dravidian | Tamil
te | Telugu     | Dravidian      | South-Central Dravidian | Telugu
th | Thai       | Kra-Dai        | Tai           | Thai
tl | Tagalog    | Austronesian   | Malayo-Polynesian | Latin
tr | Turkish    | Turkic         | Oghuz         | Latin
uk | Ukrainian  | Indo-European  | Slavic        | Cyrillic
ur | Urdu       | Indo-European  | Indo-Aryan    | Arabic
vi | Vietnamese | Austro-Asiatic | Vietic        | Latin
wo | Wolof      | Niger-Congo    | Atlantic      | Latin
yo | Yoruba     | Niger-Congo    | Volta-Niger   | Latin
zh | Chinese    | Sino-Tibetan   | Sinitic       | Han
""")

XTREME_LANGUAGES: tuple[str, ...] = tuple(sorted({lang for langs in XTREME_TASK_LANGUAGES.values() for lang in langs}))
XTREME_R_LANGUAGES: tuple[str, ...] = tuple(
    sorted({lang for langs in XTREME_R_TASK_LANGUAGES.values() for lang in langs})
)


def language(code: str) -> Language:
    """The table row of a language code; the error lists the known codes."""
    if code not in LANGUAGES:
        raise KeyError(f"no language {code!r} in the table; known: {sorted(LANGUAGES)}")
    return LANGUAGES[code]
