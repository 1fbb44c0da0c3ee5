"""Kept as one module: one generated world: the grammar, the lexicons and every task's generator draw from random
streams keyed by (seed, task, split), and later splits exclude the items of earlier ones, so they are built
together.

The built-in benchmark: a generated multilingual world that runs offline in seconds.

One grammar over a template English (names, nouns in semantic classes, verbs with selectional
restrictions, adjectives, determiners, a negation class, a hedge class, prepositions, places).
Four generated languages ("xa".."xd") realise the same grammar with their own pseudo-word
lexicon (a bijection from English word types) and their own word order:

    en  SVO, adjective before noun, prepositions            (the template)
    xa  SVO, adjective before noun, prepositions            (English order, new words)
    xb  SVO, adjective after noun, prepositions
    xc  SOV, adjective before noun, postpositions, adverbs first
    xd  VSO, adjective after noun, prepositions

Names, digits and punctuation are shared by every language, as names and numbers are between
real languages. The pretraining corpus (`Benchmark.corpus`) also code-switches a share of its
sentences (see CODE_SWITCH_RATE), as real web text mixes languages; task data never does.
Word frequencies follow Zipf's law within each word class, identically in every language.

The tasks are designed after what a tiny MLM encoder on two CPU cores can be shown to learn (see
the feasibility notes in the project's reference): every decision is lexical or positional, so
that success depends on word classes the MLM can align across languages, not on reasoning.

Everything here is deterministic from the seed: the random streams are `random.Random` seeded
with a SHA-256 of (seed, purpose), never Python's salted `hash()`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import random
from collections.abc import Iterable, Sequence

BUILTIN_LANGUAGES: tuple[str, ...] = ("en", "xa", "xb", "xc", "xd")

# Bump whenever a change here changes any generated text, so that models pretrained on an older
# corpus (cached by a fingerprint that includes this number) are rebuilt.
GENERATOR_VERSION = 1

# Split sizes, in examples. Train and dev are English only; test is per language and parallel
# (the same underlying sentences realised in each language), as XNLI's and Tatoeba's are.
TRAIN_SIZE = 2000
DEV_SIZE = 300
TEST_SIZE = 300

# Pretraining corpus: the share of code-switched sentences, and the share of words switched in
# each of them. Real multilingual corpora anchor languages to each other through shared subwords,
# loanwords and mixed-language text; the generated languages share only names and digits. Measured
# on the 2-layer encoder after 1,200 MLM steps: the languages with English word order (xa, xb)
# align without switching, the SOV and VSO ones (xc, xd) mostly through it (zero-shot POS accuracy
# over the four generated languages 0.61 without, 0.80 with; 0.43 for a random-init encoder).
CODE_SWITCH_RATE = 0.2
CODE_SWITCH_WORD_RATE = 0.3

NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")
POS_TAGS: tuple[str, ...] = (
    "ADJ", "ADP", "ADV", "CCONJ", "DET", "NOUN", "NUM", "PART", "PROPN", "PUNCT", "VERB",
)

_INTERMEDIATE_SPLITS = {"train": ("en",), "dev": ("en",)}
_TARGET_SPLITS = {"train": ("en",), "dev": ("en",), "test": BUILTIN_LANGUAGES}

BUILTIN_TASKS: dict[str, dict] = {
    "builtin_nli": {
        "format": "classification",
        "role": "intermediate",
        "labels": NLI_LABELS,
        "splits": dict(_INTERMEDIATE_SPLITS),
        "description": "MNLI-like: a two-sentence premise and a short hypothesis about one of its "
        "events; a negation word in the hypothesis makes it a contradiction, a hedge word makes it "
        "neutral, otherwise it is entailed.",
    },
    "builtin_squad": {
        "format": "span_qa",
        "role": "intermediate",
        "labels": (),
        "splits": dict(_INTERMEDIATE_SPLITS),
        "description": "SQuAD v1.1-like: a context of three or four sentences and a who / what / "
        "where question whose answer is a span of the context.",
    },
    "builtin_swag": {
        "format": "multiple_choice",
        "role": "intermediate",
        "labels": (),
        "splits": dict(_INTERMEDIATE_SPLITS),
        "description": "HellaSwag-like: a sentence and the subject of the next one; pick the one "
        "grammatical, selectionally coherent ending among four (the others are scrambled, "
        "missing their noun, or give the verb an object it cannot take).",
    },
    "builtin_xnli": {
        "format": "classification",
        "role": "target",
        "labels": NLI_LABELS,
        "splits": dict(_TARGET_SPLITS),
        "description": "XNLI-like: a one-sentence premise and a hypothesis derived from it, both in "
        "the same language; negation word -> contradiction, hedge word -> neutral, else entailment.",
    },
    "builtin_pos": {
        "format": "tagging",
        "role": "target",
        "labels": POS_TAGS,
        "splits": dict(_TARGET_SPLITS),
        "description": "UD-POS-like: UPOS tags of generated sentences, in each language's own word "
        "order (negation words are tagged PART).",
    },
    "builtin_tatoeba": {
        "format": "retrieval",
        "role": "target",
        "labels": (),
        "splits": dict(_TARGET_SPLITS),
        "description": "Tatoeba-like: a sentence (source) and its English translation (target); for "
        "English, the target is a paraphrase with every synonym-bearing word swapped.",
    },
}

# ---------------------------------------------------------------------------------------------
# The template English lexicon. Tuples inside a class are synonym sets: words a sentence uses
# interchangeably, so the MLM corpus gives them the same distribution (Tatoeba's English
# paraphrases swap them).

NAMES: tuple[str, ...] = (
    "Anna", "Boris", "Carlos", "Dana", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kemal", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
    "Uma", "Viktor", "Wei", "Xenia", "Yusuf", "Zara", "Amir", "Bela", "Chen", "Dmitri",
)
NUMBERS: tuple[str, ...] = (
    "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "15", "20", "30", "50", "100",
)

NOUNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "person": (
        ("farmer",), ("teacher",), ("doctor", "physician"), ("baker",), ("driver",),
        ("singer",), ("student",), ("soldier",), ("painter",), ("sailor",), ("nurse",), ("guard",),
    ),
    "animal": (
        ("dog",), ("cat",), ("horse",), ("bird",), ("goat",), ("cow",), ("rabbit", "bunny"),
        ("duck",), ("fox",), ("pig",),
    ),
    "food": (
        ("apple",), ("bread",), ("cake",), ("soup",), ("cheese",), ("egg",), ("orange",),
        ("banana",), ("carrot",), ("cookie",), ("melon",), ("pie",),
    ),
    "document": (
        ("book",), ("letter",), ("map",), ("note",), ("poem",), ("story", "tale"),
        ("newspaper",), ("report",), ("recipe",), ("message",),
    ),
    "vehicle": (
        ("car", "automobile"), ("bus",), ("boat",), ("bike",), ("truck",), ("train",), ("cart",),
        ("van",), ("ship",), ("tractor",),
    ),
    "object": (
        ("hammer",), ("brush",), ("rope",), ("key",), ("box",), ("cup", "mug"), ("bottle",),
        ("basket",), ("lamp",), ("chair",), ("table",), ("bag", "sack"), ("ball",),
    ),
    "clothing": (("hat", "cap"), ("coat",), ("shirt",), ("shoe",), ("scarf",), ("glove",)),
    "place": (
        ("market", "bazaar"), ("river", "stream"), ("school",), ("garden",), ("kitchen",),
        ("station",), ("village",), ("forest",), ("harbor",), ("library",), ("church",),
        ("farm",), ("office",), ("park",), ("bridge",), ("beach",),
    ),
}
_THINGS = ("animal", "food", "document", "vehicle", "object", "clothing")
_ANIMATE = ("person", "animal")

# (synonym set, noun classes it can modify)
ADJECTIVES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("red",), _THINGS), (("blue",), _THINGS), (("green",), _THINGS), (("yellow",), _THINGS),
    (("black",), _THINGS), (("white",), _THINGS), (("brown",), _THINGS), (("gray",), _THINGS),
    (("big", "large"), _THINGS + ("place",)), (("small", "little"), _THINGS + ("place",)),
    (("huge", "enormous"), _THINGS + ("place",)), (("tiny",), _THINGS),
    (("old",), _THINGS + ("place", "person")), (("new",), ("document", "vehicle", "object", "clothing")),
    (("fresh",), ("food",)), (("heavy",), ("object", "vehicle", "food")),
    (("clean",), ("object", "vehicle", "clothing", "place")),
    (("dirty", "filthy"), ("object", "vehicle", "clothing", "place")),
    (("cheap", "inexpensive"), ("food", "object", "vehicle", "clothing", "document")),
    (("warm",), ("food", "clothing")), (("cold",), ("food",)), (("wet",), ("animal", "object", "clothing")),
    (("dry",), ("food", "object", "clothing")), (("broken",), ("object", "vehicle")),
    (("pretty", "lovely"), _THINGS + ("place", "person")), (("strange", "odd"), _THINGS + ("place", "person")),
    (("happy", "glad"), _ANIMATE), (("tired", "weary"), _ANIMATE), (("young",), _ANIMATE),
    (("clever", "smart"), _ANIMATE), (("angry",), _ANIMATE),
)

# (synonym set of (base, third person singular, past), object classes, subject classes)
VERBS: tuple[tuple[tuple[tuple[str, str, str], ...], tuple[str, ...], tuple[str, ...]], ...] = (
    ((("eat", "eats", "ate"),), ("food",), _ANIMATE),
    ((("cook", "cooks", "cooked"),), ("food",), ("person",)),
    ((("bake", "bakes", "baked"),), ("food",), ("person",)),
    ((("buy", "buys", "bought"), ("purchase", "purchases", "purchased")),
     ("food", "document", "vehicle", "object", "clothing"), ("person",)),
    ((("sell", "sells", "sold"),), ("food", "document", "vehicle", "object", "clothing"), ("person",)),
    ((("read", "reads", "read"),), ("document",), ("person",)),
    ((("write", "writes", "wrote"),), ("document",), ("person",)),
    ((("drive", "drives", "drove"),), ("vehicle",), ("person",)),
    ((("repair", "repairs", "repaired"), ("fix", "fixes", "fixed")), ("vehicle", "object"), ("person",)),
    ((("wash", "washes", "washed"),), ("vehicle", "object", "clothing", "animal"), ("person",)),
    ((("feed", "feeds", "fed"),), ("animal",), ("person",)),
    ((("chase", "chases", "chased"),), ("animal", "person"), ("animal",)),
    ((("see", "sees", "saw"), ("spot", "spots", "spotted")), _THINGS + ("person", "place"), _ANIMATE),
    ((("carry", "carries", "carried"),), ("object", "food", "document", "clothing"), ("person",)),
    ((("drop", "drops", "dropped"),), ("object", "food", "document", "clothing"), ("person",)),
    ((("open", "opens", "opened"),), ("object", "document"), ("person",)),
    ((("wear", "wears", "wore"),), ("clothing",), ("person",)),
    ((("visit", "visits", "visited"),), ("place", "person"), ("person",)),
    ((("leave", "leaves", "left"),), ("place",), _ANIMATE),
    ((("meet", "meets", "met"),), ("person",), ("person",)),
    ((("help", "helps", "helped"), ("assist", "assists", "assisted")), ("person",), ("person",)),
    ((("call", "calls", "called"),), ("person", "animal"), ("person",)),
    ((("paint", "paints", "painted"),), ("object", "vehicle", "place"), ("person",)),
    ((("find", "finds", "found"), ("discover", "discovers", "discovered")),
     ("object", "document", "animal", "clothing"), _ANIMATE),
    ((("lose", "loses", "lost"),), ("object", "document", "clothing"), ("person",)),
    ((("watch", "watches", "watched"),), ("animal", "person", "vehicle"), _ANIMATE),
)

# The two cue classes of the NLI-like tasks. Several interchangeable words each, in fixed slots
# (hedges open the sentence, negations stand right before the verb), so that the MLM corpus
# gives each class one distribution an encoder can align across languages.
HEDGES: tuple[tuple[str, ...], ...] = (
    ("maybe", "perhaps"), ("probably", "likely"), ("possibly",), ("apparently", "seemingly"),
    ("reportedly", "allegedly"), ("supposedly",),
)
NEGATIONS: tuple[tuple[str, ...], ...] = (("never",), ("hardly", "barely", "scarcely"), ("seldom", "rarely"))
ADVERBS: tuple[tuple[str, ...], ...] = (
    ("yesterday",), ("today",), ("again",), ("early",), ("later", "afterwards"),
    ("quickly", "rapidly"), ("slowly",), ("carefully", "cautiously"), ("quietly", "silently"),
)
PLACE_PREPOSITIONS: tuple[tuple[str, ...], ...] = (
    ("in",), ("at",), ("near",), ("behind",), ("beside", "alongside"), ("under",),
)
SINGULAR_DETERMINERS: tuple[str, ...] = ("the", "the", "the", "a", "a", "this", "that", "every", "each")
PLURAL_DETERMINERS: tuple[str, ...] = ("the", "the", "these", "those", "some")
FUNCTION_WORDS: tuple[str, ...] = ("a", "an", "the", "this", "that", "every", "each", "these", "those",
                                   "some", "and", "who", "what", "where", "did", "does", "do")
PUNCTUATION: tuple[str, ...] = (".", "?")


def _pluralize(noun: str) -> str:
    if noun.endswith(("s", "x", "sh", "ch")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _flatten(groups: Iterable[tuple[str, ...]]) -> list[str]:
    return [w for g in groups for w in g]


def english_vocabulary() -> tuple[str, ...]:
    """Every English word type the grammar can produce, in a fixed order (names and digits excluded)."""
    words: list[str] = []
    for cls in NOUNS.values():
        for group in cls:
            for w in group:
                words += [w, _pluralize(w)]
    words += _flatten(g for g, _ in ADJECTIVES)
    for forms, _, _ in VERBS:
        for triple in forms:
            words += list(triple)
    words += _flatten(HEDGES) + _flatten(NEGATIONS) + _flatten(ADVERBS) + _flatten(PLACE_PREPOSITIONS)
    words += list(FUNCTION_WORDS)
    return tuple(dict.fromkeys(words))  # "read" is its own past: keep the first occurrence


_SHARED: frozenset[str] = frozenset(NAMES + NUMBERS + PUNCTUATION)
# Word -> its synonym set (itself included), for the English paraphrases. Plural nouns and each
# verb form get the set of the matching forms.
_SYNONYMS: dict[str, tuple[str, ...]] = {}


def _add_synonyms(group: tuple[str, ...]) -> None:
    if len(group) > 1:
        for word in group:
            _SYNONYMS[word] = group


for _group in [g for cls in NOUNS.values() for g in cls]:
    _add_synonyms(_group)
    _add_synonyms(tuple(_pluralize(w) for w in _group))
for _group in [g for g, _ in ADJECTIVES] + list(HEDGES) + list(NEGATIONS) + list(ADVERBS) + list(PLACE_PREPOSITIONS):
    _add_synonyms(_group)
for _forms, _, _ in VERBS:
    for _i in range(3):
        _add_synonyms(tuple(f[_i] for f in _forms))


def _fix_articles(words: list[str]) -> list[str]:
    """English a/an by the following word, after a synonym swap changed it."""
    return [("an" if words[i + 1][0] in "aeiou" else "a") if w in ("a", "an") and i + 1 < len(words) else w
            for i, w in enumerate(words)]


# ---------------------------------------------------------------------------------------------
# Word orders and pseudo-word phonologies of the generated languages.


@dataclasses.dataclass(frozen=True)
class WordOrder:
    clause: str  # "SVO", "SOV" or "VSO": order of subject, verb and object
    adjective_after_noun: bool
    postpositions: bool
    adverb_first: bool  # manner/time adverb opens the clause (after a hedge) instead of closing it


WORD_ORDERS: dict[str, WordOrder] = {
    "en": WordOrder("SVO", False, False, False),
    "xa": WordOrder("SVO", False, False, False),
    "xb": WordOrder("SVO", True, False, False),
    "xc": WordOrder("SOV", False, True, True),
    "xd": WordOrder("VSO", True, False, False),
}

# (onsets, vowels, codas) per language; codas may be "" for open syllables. Disjoint letter
# habits make the vocabularies look different; uniqueness across languages is enforced anyway.
_PHONOLOGY: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "xa": (tuple("ptkmnlsv"), tuple("aeiou"), ("",)),
    "xb": (tuple("bdgrzfhj"), ("a", "e", "o", "u", "y"), ("", "r", "n", "g")),
    "xc": (("k", "t", "s", "n", "m", "r", "w", "h"), ("a", "i", "u", "aa", "ii", "uu"), ("", "", "q")),
    "xd": (("th", "sh", "d", "l", "r", "m", "n", "z", "b"), ("e", "o", "i", "ei", "ou"), ("l", "n", "s", "")),
}


def _rng(seed: int, *purpose: object) -> random.Random:
    digest = hashlib.sha256(repr((seed,) + purpose).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _make_lexicon(seed: int, lang: str, taken: set[str]) -> dict[str, str]:
    """A bijection English word type -> pseudo-word; function words get one syllable."""
    onsets, vowels, codas = _PHONOLOGY[lang]
    rng = _rng(seed, "lexicon", lang)
    short = set(FUNCTION_WORDS) | set(_flatten(PLACE_PREPOSITIONS))
    lexicon: dict[str, str] = {}
    for word in english_vocabulary():
        n_syllables = 1 if word in short else rng.choice((2, 2, 3))
        for attempt in range(1000):
            syllables = n_syllables + attempt // 200  # lengthen if the short space is crowded
            pseudo = "".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables))
            if pseudo not in taken:
                break
        else:  # pragma: no cover - the spaces above hold far more words than the lexicon needs
            raise RuntimeError(f"could not find a fresh pseudo-word for {word!r} in {lang}")
        taken.add(pseudo)
        lexicon[word] = pseudo
    return lexicon


# ---------------------------------------------------------------------------------------------
# Sentence structures. A clause is built once, in English words; each language realises it by
# reordering its constituents and mapping each English word through its lexicon.

Token = tuple[str, str]  # (English word, UPOS tag)


@dataclasses.dataclass
class NounPhrase:
    tokens_before: list[Token]  # determiner and number: before the noun in every language
    adjectives: list[Token]
    noun: Token
    cls: str
    plural: bool
    coordinated: list[NounPhrase] = dataclasses.field(default_factory=list)  # "X and Y"

    @property
    def is_name(self) -> bool:
        return self.noun[1] == "PROPN"


@dataclasses.dataclass
class Clause:
    subject: NounPhrase
    verb_forms: tuple[str, str, str]  # (base, 3sg, past) of the chosen synonym
    verb_index: int  # which entry of VERBS
    tense: str  # "past" or "present"
    obj: NounPhrase
    hedge: Token | None = None
    negation: Token | None = None
    place: tuple[Token, NounPhrase] | None = None  # (preposition, place noun phrase)
    adverb: Token | None = None

    @property
    def verb(self) -> Token:
        base, third, past = self.verb_forms
        if self.tense == "past":
            return (past, "VERB")
        singular = not self.subject.plural and not self.subject.coordinated
        return (third if singular else base, "VERB")


class _Grammar:
    """Samples English clauses; all randomness comes from the caller's `random.Random`."""

    def __init__(self) -> None:
        self.nouns = NOUNS
        self.adjectives_for: dict[str, list[tuple[str, ...]]] = {c: [] for c in NOUNS}
        for group, classes in ADJECTIVES:
            for c in classes:
                self.adjectives_for[c].append(group)
        # Verbs that restrict their object to few classes: a wrong object is clearly wrong.
        self.selective_verbs = [i for i, (_, objs, _) in enumerate(VERBS) if len(objs) <= 3]

    @staticmethod
    def pick(rng: random.Random, group: Sequence[str]) -> str:
        """A member of a synonym set, uniformly: synonyms share one distribution."""
        return group[rng.randrange(len(group))]

    @staticmethod
    @functools.cache
    def _zipf_cumulative(n: int) -> tuple[float, ...]:
        total, out = 0.0, []
        for rank in range(1, n + 1):
            total += 1.0 / rank
            out.append(total)
        return tuple(out)

    def zipf(self, rng: random.Random, items: Sequence):
        """An item by Zipf's law over its list position (weight 1/rank), as word frequencies are
        in real languages. Every language samples the same grammar, so a word and its
        translations share a frequency: one more cue an encoder can align words by."""
        return rng.choices(items, cum_weights=self._zipf_cumulative(len(items)))[0]

    def noun_phrase(self, rng: random.Random, cls: str, *, allow_name: bool = True,
                    plural_rate: float = 0.25, adjective_rate: float = 0.5,
                    coordination_rate: float = 0.0, allow_number: bool = True) -> NounPhrase:
        if cls == "person" and allow_name and rng.random() < 0.6:
            np = NounPhrase([], [], (rng.choice(NAMES), "PROPN"), cls, False)
        else:
            noun = self.pick(rng, self.zipf(rng, self.nouns[cls]))
            plural = rng.random() < plural_rate
            adjectives: list[Token] = []
            if rng.random() < adjective_rate and self.adjectives_for[cls]:
                adjectives.append((self.pick(rng, self.zipf(rng, self.adjectives_for[cls])), "ADJ"))
                if rng.random() < 0.15:
                    second = self.pick(rng, self.zipf(rng, self.adjectives_for[cls]))
                    if second != adjectives[0][0]:
                        adjectives.append((second, "ADJ"))
            before: list[Token] = []
            if plural:
                noun = _pluralize(noun)
                if allow_number and rng.random() < 0.5:
                    if rng.random() < 0.5:
                        before.append((rng.choice(PLURAL_DETERMINERS), "DET"))
                    before.append((rng.choice(NUMBERS), "NUM"))
                elif rng.random() < 0.85:
                    before.append((rng.choice(PLURAL_DETERMINERS), "DET"))
            else:
                det = rng.choice(SINGULAR_DETERMINERS)
                if det == "a":  # English article allomorphy, decided on English adjacency
                    following = adjectives[0][0] if adjectives else noun
                    det = "an" if following[0] in "aeiou" else "a"
                before.append((det, "DET"))
            np = NounPhrase(before, adjectives, (noun, "NOUN"), cls, plural)
        if coordination_rate and rng.random() < coordination_rate:
            np.coordinated.append(self.noun_phrase(rng, cls, allow_name=allow_name, adjective_rate=0.2))
        return np

    def clause(self, rng: random.Random, *, hedge_rate: float = 0.0, negation_rate: float = 0.0,
               place_rate: float = 0.45, adverb_rate: float = 0.3, coordination_rate: float = 0.08,
               verb_index: int | None = None, subject: NounPhrase | None = None,
               name_subject: bool = False, allow_number: bool = True) -> Clause:
        if verb_index is None:
            verb_index = self.zipf(rng, range(len(VERBS)))
        forms, object_classes, subject_classes = VERBS[verb_index]
        if subject is None:
            subject_cls = "person" if name_subject else rng.choice(subject_classes)
            if name_subject:
                subject = NounPhrase([], [], (rng.choice(NAMES), "PROPN"), "person", False)
            else:
                subject = self.noun_phrase(rng, subject_cls, coordination_rate=coordination_rate,
                                           allow_number=allow_number)
        obj = self.noun_phrase(rng, rng.choice(object_classes), allow_number=allow_number)
        clause = Clause(subject, rng.choice(forms), verb_index, rng.choice(("past", "past", "present")), obj)
        if rng.random() < hedge_rate:
            clause.hedge = (self.pick(rng, self.zipf(rng, HEDGES)), "ADV")
        if rng.random() < negation_rate:
            clause.negation = (self.pick(rng, self.zipf(rng, NEGATIONS)), "PART")
        if rng.random() < place_rate:
            prep = self.pick(rng, self.zipf(rng, PLACE_PREPOSITIONS))
            clause.place = ((prep, "ADP"), self.noun_phrase(rng, "place", plural_rate=0.1, adjective_rate=0.3,
                                                            allow_number=False))
        if rng.random() < adverb_rate:
            clause.adverb = (self.pick(rng, self.zipf(rng, ADVERBS)), "ADV")
        return clause


_GRAMMAR = _Grammar()


def _np_tokens(np: NounPhrase, order: WordOrder) -> list[Token]:
    if np.is_name:
        out = [np.noun]
    elif order.adjective_after_noun:
        out = np.tokens_before + [np.noun] + np.adjectives
    else:
        out = np.tokens_before + np.adjectives + [np.noun]
    for other in np.coordinated:
        out = out + [("and", "CCONJ")] + _np_tokens(other, order)
    return out


def _clause_tokens(clause: Clause, order: WordOrder, *, gap: str | None = None) -> list[Token]:
    """Tokens of a clause in a word order. `gap` in ("subject", "object", "place") replaces that
    constituent by a wh-word left in place (the generated languages' questions)."""
    wh = {"subject": [("who", "PRON")], "object": [("what", "PRON")], "place": [("where", "ADV")]}
    subject = wh["subject"] if gap == "subject" else _np_tokens(clause.subject, order)
    obj = wh["object"] if gap == "object" else _np_tokens(clause.obj, order)
    place: list[Token] = []
    if gap == "place":
        place = wh["place"]
    elif clause.place is not None:
        prep, place_np = clause.place
        place_tokens = _np_tokens(place_np, order)
        place = place_tokens + [prep] if order.postpositions else [prep] + place_tokens
    verb = ([clause.negation] if clause.negation else []) + [clause.verb]
    if order.clause == "SVO":
        core = subject + verb + obj + place
    elif order.clause == "SOV":
        core = subject + place + obj + verb
    elif order.clause == "VSO":
        core = verb + subject + obj + place
    else:  # pragma: no cover - WORD_ORDERS is fixed above
        raise ValueError(f"unknown clause order {order.clause!r}")
    adverb = [clause.adverb] if clause.adverb else []
    core = adverb + core if order.adverb_first else core + adverb
    return ([clause.hedge] if clause.hedge else []) + core


def _english_question(clause: Clause, gap: str) -> list[Token]:
    """English wh-question with fronting and do-support: "what did anna eat ?"."""
    order = WORD_ORDERS["en"]
    if gap == "subject":
        return [("who", "PRON")] + [clause.verb] + _np_tokens(clause.obj, order) + [("?", "PUNCT")]
    singular = not clause.subject.plural and not clause.subject.coordinated
    aux = "did" if clause.tense == "past" else ("does" if singular else "do")
    base = (clause.verb_forms[0], "VERB")
    rest = _np_tokens(clause.subject, order) + [base]
    if gap == "object":
        return [("what", "PRON"), (aux, "AUX")] + rest + [("?", "PUNCT")]
    return [("where", "ADV"), (aux, "AUX")] + rest + _np_tokens(clause.obj, order) + [("?", "PUNCT")]


def _join(words: Sequence[str]) -> tuple[str, list[int]]:
    """Space-joined text and the character offset of each word."""
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    return " ".join(words), starts


# ---------------------------------------------------------------------------------------------


def _copy(value):
    """A cheap deep copy of the JSON-like example values, so callers cannot corrupt the cache."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class Benchmark:
    """The generated world for one seed: lexicons, pretraining corpora and task examples."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.languages = BUILTIN_LANGUAGES
        taken = set(english_vocabulary()) | set(_SHARED) | {w.lower() for w in NAMES}
        self._lexicons = {"en": {w: w for w in english_vocabulary()}}
        for lang in BUILTIN_LANGUAGES[1:]:
            self._lexicons[lang] = _make_lexicon(seed, lang, taken)
        self._cache: dict[tuple[str, str], object] = {}

    # -- languages ------------------------------------------------------------------------------
    def lexicon(self, lang: str) -> dict[str, str]:
        """English word type -> word of `lang` (the identity for "en"); names and digits are shared."""
        self._check_lang(lang)
        return dict(self._lexicons[lang])

    def vocabulary(self, lang: str) -> frozenset[str]:
        """Every word type `lang` can produce, shared names, digits and punctuation included."""
        self._check_lang(lang)
        return frozenset(self._lexicons[lang].values()) | _SHARED

    def realize(self, tokens: Sequence[Token], lang: str) -> list[Token]:
        lexicon = self._lexicons[lang]
        return [(w if w in _SHARED else lexicon[w], tag) for w, tag in tokens]

    def sentence(self, clause: Clause, lang: str) -> list[Token]:
        return self.realize(_clause_tokens(clause, WORD_ORDERS[lang]) + [(".", "PUNCT")], lang)

    def _check_lang(self, lang: str) -> None:
        if lang not in BUILTIN_LANGUAGES:
            raise KeyError(f"unknown built-in language {lang!r}; known: {', '.join(BUILTIN_LANGUAGES)}")

    # -- pretraining corpus ---------------------------------------------------------------------
    def corpus(self, lang: str, n: int, *, code_switch_rate: float | None = None,
               code_switch_word_rate: float | None = None) -> list[str]:
        """`n` sentences of `lang` for tokenizer and MLM pretraining.

        Each language samples its own sentences (the corpora are not translations of each other),
        with every construction the tasks use: hedges and negations (10% each), questions (5%),
        numbers, coordination, places and adverbs. A share of the sentences is code-switched:
        in `code_switch_rate` of them each word is replaced, with probability
        `code_switch_word_rate`, by its translation in another language (English words inside
        generated-language sentences, generated-language words inside English ones), keeping the
        sentence's own word order. Defaults: CODE_SWITCH_RATE and CODE_SWITCH_WORD_RATE.
        """
        self._check_lang(lang)
        p_sentence = CODE_SWITCH_RATE if code_switch_rate is None else code_switch_rate
        p_word = CODE_SWITCH_WORD_RATE if code_switch_word_rate is None else code_switch_word_rate
        rng = _rng(self.seed, "corpus", lang)
        order = WORD_ORDERS[lang]
        others = [x for x in BUILTIN_LANGUAGES if x != lang] if lang == "en" else ["en"]
        out = []
        for _ in range(n):
            clause = _GRAMMAR.clause(rng, hedge_rate=0.1, negation_rate=0.1)
            if rng.random() < 0.05:
                gap = rng.choice(("subject", "object", "place") if clause.place else ("subject", "object"))
                if lang == "en":
                    tokens = _english_question(clause, gap)
                else:
                    tokens = _clause_tokens(clause, order, gap=gap) + [("?", "PUNCT")]
            else:
                tokens = _clause_tokens(clause, order) + [(".", "PUNCT")]
            if rng.random() < p_sentence:
                source = self._lexicons[rng.choice(others)]
                words = [w if w in _SHARED else (source if rng.random() < p_word else self._lexicons[lang])[w]
                         for w, _ in tokens]
            else:
                words = [w for w, _ in self.realize(tokens, lang)]
            out.append(" ".join(words))
        return out

    # -- tasks ----------------------------------------------------------------------------------
    def examples(self, task: str, split: str, lang: str) -> list[dict]:
        """Examples of a task's split in one language, in the task's exact example format."""
        if task not in BUILTIN_TASKS:
            raise KeyError(f"unknown built-in task {task!r}; known: {', '.join(BUILTIN_TASKS)}")
        splits = BUILTIN_TASKS[task]["splits"]
        if split not in splits:
            raise KeyError(f"built-in task {task!r} has no split {split!r}; it has: {', '.join(splits)}")
        if lang not in splits[split]:
            raise KeyError(f"built-in task {task!r} split {split!r} has no language {lang!r}; "
                           f"it has: {', '.join(splits[split])}")
        key = (task, split)
        if key not in self._cache:
            self._cache[key] = getattr(self, f"_make_{task.removeprefix('builtin_')}")(split)
        return _copy(self._cache[key][lang])

    def _sizes(self) -> dict[str, int]:
        return {"train": TRAIN_SIZE, "dev": DEV_SIZE, "test": TEST_SIZE}

    def _parallel(self, task: str, split: str, make, key) -> dict[str, list[dict]]:
        """Draw `make(rng)` items until the split is full, skipping items whose English `key`
        already occurs in this split or in an earlier split of the task (train, dev, test), so
        that dev and test never repeat a training example. `make` returns {lang: example}."""
        order = ("train", "dev", "test")
        seen: set = set()
        for earlier in order[: order.index(split)]:
            if earlier in BUILTIN_TASKS[task]["splits"]:
                for item in self._generated(task, earlier):
                    seen.add(key(item["en"]))
        langs = BUILTIN_TASKS[task]["splits"][split]
        rng = _rng(self.seed, task, split)
        items: list[dict] = []
        while len(items) < self._sizes()[split]:
            item = make(rng, langs)
            k = key(item["en"])
            if k in seen:
                continue
            seen.add(k)
            items.append(item)
        return items

    def _generated(self, task: str, split: str) -> list[dict]:
        cache_key = ("items", task, split)
        if cache_key not in self._cache:
            maker = getattr(self, f"_item_{task.removeprefix('builtin_')}")
            self._cache[cache_key] = self._parallel(task, split, maker, _TASK_KEYS[task])
        return self._cache[cache_key]  # type: ignore[return-value]

    def _by_lang(self, task: str, split: str) -> dict[str, list[dict]]:
        items = self._generated(task, split)
        return {lang: [item[lang] for item in items] for lang in BUILTIN_TASKS[task]["splits"][split]}

    def _make_nli(self, split: str) -> dict[str, list[dict]]:
        return self._by_lang("builtin_nli", split)

    def _make_squad(self, split: str) -> dict[str, list[dict]]:
        out = self._by_lang("builtin_squad", split)
        for i, ex in enumerate(out["en"]):
            ex["id"] = f"builtin_squad-{self.seed}-{split}-{i:05d}"
        return out

    def _make_swag(self, split: str) -> dict[str, list[dict]]:
        return self._by_lang("builtin_swag", split)

    def _make_xnli(self, split: str) -> dict[str, list[dict]]:
        return self._by_lang("builtin_xnli", split)

    def _make_pos(self, split: str) -> dict[str, list[dict]]:
        return self._by_lang("builtin_pos", split)

    def _make_tatoeba(self, split: str) -> dict[str, list[dict]]:
        return self._by_lang("builtin_tatoeba", split)

    # -- one item per task: {lang: example} ------------------------------------------------------
    def _hypothesis(self, rng: random.Random, premise: Clause) -> tuple[Clause, str]:
        """A hypothesis about `premise`'s event; its label is decided by one cue word alone.

        Length and content vary independently of the label (adjectives, place and adverb kept or
        dropped, synonyms swapped), so that only the cue class predicts it.
        """
        label = rng.choice(NLI_LABELS)
        obj = dataclasses.replace(premise.obj, adjectives=list(premise.obj.adjectives) if rng.random() < 0.5 else [],
                                  coordinated=[])
        if not obj.adjectives and obj.tokens_before and obj.tokens_before[0][0] in ("a", "an"):
            obj.tokens_before = [("an" if obj.noun[0][0] in "aeiou" else "a", "DET")] + obj.tokens_before[1:]
        forms = premise.verb_forms
        if rng.random() < 0.3:  # a synonym of the verb, when it has one
            forms = rng.choice(VERBS[premise.verb_index][0])
        hyp = Clause(premise.subject, forms, premise.verb_index, premise.tense, obj,
                     place=premise.place if rng.random() < 0.3 else None,
                     adverb=premise.adverb if rng.random() < 0.3 else None)
        if label == "contradiction":
            hyp.negation = (_GRAMMAR.pick(rng, _GRAMMAR.zipf(rng, NEGATIONS)), "PART")
        elif label == "neutral":
            hyp.hedge = (_GRAMMAR.pick(rng, _GRAMMAR.zipf(rng, HEDGES)), "ADV")
        return hyp, label

    def _text(self, clause: Clause, lang: str) -> str:
        return " ".join(w for w, _ in self.sentence(clause, lang))

    def _item_xnli(self, rng: random.Random, langs: Sequence[str]) -> dict[str, dict]:
        premise = _GRAMMAR.clause(rng, place_rate=0.6, adverb_rate=0.4)
        hyp, label = self._hypothesis(rng, premise)
        return {lang: {"text_a": self._text(premise, lang), "text_b": self._text(hyp, lang), "label": label}
                for lang in langs}

    def _item_nli(self, rng: random.Random, langs: Sequence[str]) -> dict[str, dict]:
        # A different "genre" from the XNLI-like target: two-sentence premises about named people.
        first = _GRAMMAR.clause(rng, name_subject=True, place_rate=0.5)
        second = _GRAMMAR.clause(rng, name_subject=rng.random() < 0.5, adverb_rate=0.5)
        hyp, label = self._hypothesis(rng, rng.choice((first, second)))
        return {lang: {"text_a": self._text(first, lang) + " " + self._text(second, lang),
                       "text_b": self._text(hyp, lang), "label": label} for lang in langs}

    def _item_pos(self, rng: random.Random, langs: Sequence[str]) -> dict[str, dict]:
        clause = _GRAMMAR.clause(rng, hedge_rate=0.15, negation_rate=0.15, coordination_rate=0.1)
        out = {}
        for lang in langs:
            tokens = self.sentence(clause, lang)
            out[lang] = {"tokens": [w for w, _ in tokens], "tags": [t for _, t in tokens]}
        return out

    def _item_tatoeba(self, rng: random.Random, langs: Sequence[str]) -> dict[str, dict]:
        # Redraw until the sentence has a word with a synonym, so the English paraphrase differs.
        while True:
            clause = _GRAMMAR.clause(rng, hedge_rate=0.1, negation_rate=0.1, place_rate=0.6, adverb_rate=0.5,
                                     coordination_rate=0.0)
            english = self._text(clause, "en")
            if any(w in _SYNONYMS for w in english.split()):
                break
        out = {}
        for lang in langs:
            if lang == "en":
                words = english.split()
                swapped = [rng.choice([s for s in _SYNONYMS[w] if s != w]) if w in _SYNONYMS else w for w in words]
                out[lang] = {"source": english, "target": " ".join(_fix_articles(swapped))}
            else:
                out[lang] = {"source": self._text(clause, lang), "target": english}
        return out

    def _item_squad(self, rng: random.Random, langs: Sequence[str]) -> dict[str, dict]:
        # 3-4 clauses with distinct subjects and distinct verbs, so each question has one answer.
        n = rng.choice((3, 4))
        verbs = rng.sample([i for i, (_, _, subj) in enumerate(VERBS) if "person" in subj], n)
        names = rng.sample(NAMES, n)
        clauses = []
        for verb_index, name in zip(verbs, names):
            subject = (NounPhrase([], [], (name, "PROPN"), "person", False) if rng.random() < 0.7
                       else _GRAMMAR.noun_phrase(rng, "person", allow_name=False, plural_rate=0.0))
            clauses.append(_GRAMMAR.clause(rng, verb_index=verb_index, subject=subject, place_rate=0.6,
                                           allow_number=False))
        subjects = [" ".join(w for w, _ in _np_tokens(c.subject, WORD_ORDERS["en"])) for c in clauses]
        if len(set(subjects)) < n:  # two "the farmer" subjects: make both names instead
            for c, name in zip(clauses, names):
                c.subject = NounPhrase([], [], (name, "PROPN"), "person", False)
        words: list[str] = []
        spans: list[dict[str, tuple[int, int]]] = []  # per clause: constituent -> word index range
        order = WORD_ORDERS["en"]
        for c in clauses:
            start = len(words)
            subj = [w for w, _ in _np_tokens(c.subject, order)]
            obj = [w for w, _ in _np_tokens(c.obj, order)]
            span = {"subject": (start, start + len(subj))}
            span["object"] = (span["subject"][1] + 1, span["subject"][1] + 1 + len(obj))
            if c.place is not None:
                place = [w for w, _ in _np_tokens(c.place[1], order)]
                span["place"] = (span["object"][1] + 1, span["object"][1] + 1 + len(place))
            words += [w for w, _ in self.sentence(c, "en")]
            spans.append(span)
        context, starts = _join(words)
        i = rng.randrange(n)
        gap = rng.choice([g for g in ("subject", "object", "place") if g in spans[i]])
        question = " ".join(w for w, _ in _english_question(clauses[i], gap))
        lo, hi = spans[i][gap]
        answer_start = starts[lo]
        answer = context[answer_start: starts[hi - 1] + len(words[hi - 1])]
        return {"en": {"id": "", "context": context, "question": question,
                       "answers": {"text": [answer], "answer_start": [answer_start]}}}

    def _item_swag(self, rng: random.Random, langs: Sequence[str]) -> dict[str, dict]:
        first = _GRAMMAR.clause(rng, place_rate=0.5)
        order = WORD_ORDERS["en"]
        verb_index = rng.choice(_GRAMMAR.selective_verbs)
        while first.subject.cls not in VERBS[verb_index][2]:
            verb_index = rng.choice(_GRAMMAR.selective_verbs)
        second = _GRAMMAR.clause(rng, verb_index=verb_index, subject=first.subject, place_rate=0.3,
                                 adverb_rate=0.2)
        n_subject = len(_np_tokens(second.subject, order))
        ending = [w for w, _ in self.sentence(second, "en")][n_subject:]
        context = self._text(first, "en") + " " + " ".join(w for w, _ in _np_tokens(second.subject, order))
        # Distractor 1: an object of a class the verb does not take ("ate the bridge").
        wrong_cls = rng.choice([c for c in NOUNS if c not in VERBS[verb_index][1] and c != "person"])
        wrong = dataclasses.replace(second, obj=_GRAMMAR.noun_phrase(rng, wrong_cls, allow_number=False))
        selection = [w for w, _ in self.sentence(wrong, "en")][n_subject:]
        # Distractor 2: the right words, scrambled (the final full stop stays last).
        scrambled = ending[:-1]
        while scrambled == ending[:-1]:
            scrambled = rng.sample(ending[:-1], len(ending) - 1)
        scrambled = scrambled + ["."]
        # Distractor 3: the object loses its noun ("ate the red .").
        nounless = dataclasses.replace(second, obj=dataclasses.replace(second.obj, noun=("", "NOUN"), coordinated=[]))
        broken = [w for w, _ in _clause_tokens(nounless, order) if w][n_subject:] + ["."]
        choices = [" ".join(e) for e in (ending, selection, scrambled, broken)]
        if len(set(choices)) < 4:  # a one-word ending cannot be scrambled apart from itself
            return self._item_swag(rng, langs)
        perm = rng.sample(range(4), 4)
        return {"en": {"context": context, "choices": [choices[p] for p in perm], "label": perm.index(0)}}


# English key of an item, for de-duplication across splits.
_TASK_KEYS = {
    "builtin_nli": lambda ex: (ex["text_a"], ex["text_b"]),
    "builtin_xnli": lambda ex: (ex["text_a"], ex["text_b"]),
    "builtin_squad": lambda ex: (ex["context"], ex["question"]),
    "builtin_swag": lambda ex: (ex["context"], tuple(ex["choices"])),
    "builtin_pos": lambda ex: tuple(ex["tokens"]),
    "builtin_tatoeba": lambda ex: ex["source"],
}


@functools.lru_cache(maxsize=4)
def benchmark(seed: int = 0) -> Benchmark:
    """The generated benchmark for `seed` (cached: building the lexicons costs a few milliseconds)."""
    return Benchmark(seed)
