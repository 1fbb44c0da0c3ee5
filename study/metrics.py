"""Kept as one module: the official scorers' arithmetic, one function per metric, sharing the answer normalisations
and token F1 and registered in one `METRICS` table.

The metrics of XTREME and XTREME-R, computed as the official scorer computes them, on a 0-100 scale.

"Official" means google-research/xtreme `evaluate.py` (HEAD 838c13b) and the scripts it calls: SQuAD
v1.1's and MLQA's evaluation scripts, seqeval, and the retrieval code (`utils_lareqa`, `utils_mewslix`).
Each function repeats the official arithmetic step by step (the same summation order, `100.0 * sum /
total` rather than `sum / total * 100`), because the study compares its numbers with published ones to
the last digit and a reordered float sum can change the last bits.

Every metric is registered once in `METRICS` with its direction. A task scores through a metric family
(`METRIC_FAMILIES`: gold, predictions, language -> values), which names the registered metric behind each value
it reports and so takes its direction from `METRICS`. All of them are higher-is-better today; the direction is
still stated per metric because it is read from here: by the trial's result rows (`higher_is_better`, which the
Pareto fronts and gains of `analysis` follow) and, through `signal_mode`, by ASHA's and Optuna's `mode`.
"""

from __future__ import annotations

import re
import string
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from seqeval.metrics import f1_score as _seqeval_f1
from seqeval.metrics import precision_score as _seqeval_precision
from seqeval.metrics import recall_score as _seqeval_recall


@dataclass(frozen=True)
class Metric:
    """A named metric and its direction. `fn(labels, predictions, **options) -> float` on 0-100."""

    name: str
    higher_is_better: bool
    fn: Callable[..., float]

    def __call__(self, *args, **kwargs) -> float:
        return self.fn(*args, **kwargs)


# --------------------------------------------------------------------------------------- accuracy
def accuracy(labels: Sequence, predictions: Sequence) -> float:
    """Share of predictions equal to their label, 0-100 (XNLI, PAWS-X, XCOPA, Tatoeba)."""
    if len(labels) != len(predictions):
        raise ValueError(
            f"accuracy needs one prediction per label: {len(predictions)} predictions, {len(labels)} labels"
        )
    if not predictions:
        raise ValueError("accuracy of no examples is undefined")
    correct = sum(int(p == label) for p, label in zip(predictions, labels))
    return float(correct) / len(predictions) * 100


# ------------------------------------------------------------------------------------------ seqeval
def _as_sentences(name: str, sentences: Iterable[Iterable[str]]) -> list[list[str]]:
    # seqeval insists on a list of lists; tuples or arrays make it raise a TypeError.
    out = [list(s) for s in sentences]
    if not out:
        raise ValueError(f"seqeval scores of no sentences are undefined ({name} is empty)")
    return out


def seqeval_scores(labels: Iterable[Iterable[str]], predictions: Iterable[Iterable[str]]) -> dict[str, float]:
    """seqeval's micro F1, precision and recall (default, conlleval-like mode), 0-100, as evaluate.py's `f1`.

    UD-POS goes through the same function although its tags are not IOB chunks: seqeval then reads the
    first letter of a tag as its chunk prefix (PRON -> prefix "P", type "RON"). The score is therefore not
    token accuracy, and it depends on the seqeval version: seqeval 1.2.2 gives 70.398 on the official mock
    UD-POS files, seqeval 0.0.12 gives 70.217 (the number in the official evaluate_test.py).
    """
    y_true = _as_sentences("labels", labels)
    y_pred = _as_sentences("predictions", predictions)
    with warnings.catch_warnings():
        # POS tags trigger one "seems not to be NE tag" warning per tag type, and a language without
        # entities an undefined-metric warning; both are expected here and would only bury real warnings.
        warnings.simplefilter("ignore")
        f1 = _seqeval_f1(y_true, y_pred)
        precision = _seqeval_precision(y_true, y_pred)
        recall = _seqeval_recall(y_true, y_pred)
    return {"f1": float(f1) * 100, "precision": float(precision) * 100, "recall": float(recall) * 100}


def seqeval_f1(labels: Iterable[Iterable[str]], predictions: Iterable[Iterable[str]]) -> float:
    """seqeval's micro F1 (default mode), 0-100: the official UD-POS and PAN-X score."""
    y_true = _as_sentences("labels", labels)
    y_pred = _as_sentences("predictions", predictions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # see seqeval_scores
        return float(_seqeval_f1(y_true, y_pred)) * 100


# ---------------------------------------------------------------------------------------- SQuAD v1.1
_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalisation: lower case, drop ASCII punctuation, English articles, extra spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
    text = _EN_ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _token_f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    common = Counter(prediction_tokens) & Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def _em_f1_over_questions(
    answers: Mapping[str, Sequence[str]],
    predictions: Mapping[str, str],
    normalize: Callable[[str], str],
) -> dict[str, float]:
    """The loop shared by the SQuAD v1.1 and MLQA scripts: max over gold answers, unanswered scores 0."""
    if not answers:
        raise ValueError("EM/F1 of no questions is undefined")
    f1 = exact_match = total = 0
    for qid, golds in answers.items():
        total += 1
        if qid not in predictions:
            continue  # the official scripts count an unanswered question as 0 and keep it in the total
        if not golds:
            raise ValueError(f"question {qid!r} has no gold answer; SQuAD v1.1 and MLQA need at least one")
        prediction = normalize(predictions[qid])
        normalized_golds = [normalize(g) for g in golds]
        exact_match += max(prediction == g for g in normalized_golds)
        f1 += max(_token_f1(prediction.split(), g.split()) for g in normalized_golds)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def squad_scores(answers: Mapping[str, Sequence[str]], predictions: Mapping[str, str]) -> dict[str, float]:
    """SQuAD v1.1 exact match and token F1, 0-100, each the max over a question's gold answers.

    `answers` maps question id -> gold answer texts; `predictions` maps question id -> predicted text.
    A question without a prediction scores 0 and counts in the total; extra predictions are ignored.
    This is the XQuAD and TyDiQA-GoldP score.
    """
    return _em_f1_over_questions(answers, predictions, squad_normalize_answer)


# ---------------------------------------------------------------------------------------------- MLQA
def _is_punct(ch: str) -> bool:
    # MLQA's PUNCT: every code point of a Unicode "P*" category, plus ASCII punctuation (which adds
    # symbols such as $ + < = > ^ ` | ~ that Unicode files under S*).
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


_MLQA_ARTICLES: dict[str, re.Pattern | None] = {
    "en": _EN_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,  # Hindi has no articles
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    # MLQA's own pattern, kept as is: its first branch can never match ("^" after text), so in effect
    # every "ال" is replaced, wherever it stands in a word.
    "ar": re.compile(r"\sال^|ال"),
    "zh": None,  # Chinese has no articles
}
_MLQA_WHITESPACE_LANGS = frozenset({"en", "es", "hi", "vi", "de", "ar"})
MLQA_LANGUAGES: tuple[str, ...] = tuple(_MLQA_ARTICLES)


def _mixed_segmentation(text: str) -> list[str]:
    """MLQA's Chinese tokenisation: each CJK character (U+4E00-U+9FA5) and punctuation mark is a token,
    runs of other characters are split on whitespace."""
    tokens: list[str] = []
    run = ""
    for ch in text:
        if "\u4e00" <= ch <= "\u9fa5" or _is_punct(ch):
            if run:
                tokens.extend(run.split())
                run = ""
            tokens.append(ch)
        else:
            run += ch
    if run:
        tokens.extend(run.split())
    return tokens


def mlqa_normalize_answer(text: str, lang: str) -> str:
    """MLQA's language-aware normalisation: lower case, drop Unicode punctuation, drop the language's
    articles, then whitespace tokens (or mixed segmentation for zh) joined by single spaces."""
    if lang not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA normalisation has no rule for language {lang!r}; it knows {list(MLQA_LANGUAGES)}")
    text = text.lower()
    text = "".join(ch for ch in text if not _is_punct(ch))
    articles = _MLQA_ARTICLES[lang]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = text.split() if lang in _MLQA_WHITESPACE_LANGS else _mixed_segmentation(text)
    return " ".join(t for t in tokens if t.strip() != "")


def mlqa_scores(answers: Mapping[str, Sequence[str]], predictions: Mapping[str, str], lang: str) -> dict[str, float]:
    """MLQA's exact match and F1, 0-100, with the normalisation of the answer language `lang`.

    Same bookkeeping as `squad_scores` (unanswered questions score 0); `lang` is one of en es de ar hi vi zh.
    """
    if lang not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA normalisation has no rule for language {lang!r}; it knows {list(MLQA_LANGUAGES)}")
    return _em_f1_over_questions(answers, predictions, lambda s: mlqa_normalize_answer(s, lang))


# ---------------------------------------------------------------------------------------- SQuAD v2.0
def _v2_tokens(text: str) -> list[str]:
    return squad_normalize_answer(text).split() if text else []


def _v2_f1(gold: str, prediction: str) -> float:
    gold_tokens, prediction_tokens = _v2_tokens(gold), _v2_tokens(prediction)
    if not gold_tokens or not prediction_tokens:
        # a no-answer on either side: F1 is 1 if both are no-answers, else 0
        return int(gold_tokens == prediction_tokens)
    return _token_f1(prediction_tokens, gold_tokens)


def squad_v2_scores(
    answers: Mapping[str, Sequence[str]],
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
    breakdown: bool = False,
) -> dict[str, float]:
    """SQuAD 2.0's exact match and F1 with unanswerable questions, 0-100, as its official script.

    An unanswerable question has no gold answer (or only answers that normalise to nothing); the empty
    prediction "" means "no answer" and is right exactly for those. With `na_probs`, a question whose
    no-answer probability exceeds `na_prob_thresh` counts as answered "no answer". The official keys
    "exact" and "HasAns_exact" are called "exact_match" here, as in the other QA metrics; `breakdown`
    adds HasAns_* and NoAns_* (exact_match, f1, total) for the subsets present.

    Every question needs a prediction: the official script stops with a KeyError otherwise.
    """
    if not answers:
        raise ValueError("EM/F1 of no questions is undefined")
    missing = [qid for qid in answers if qid not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} questions have no prediction (first: {missing[0]!r}); SQuAD 2.0 needs "
                         "one for every question, with \"\" for no answer")
    if na_probs is None:
        na_probs = {qid: 0.0 for qid in predictions}
    has_answer = {qid: bool(golds) for qid, golds in answers.items()}
    exact: dict[str, float] = {}
    f1: dict[str, float] = {}
    for qid, golds in answers.items():
        gold_texts = [g for g in golds if squad_normalize_answer(g)] or [""]
        prediction = predictions[qid]
        exact[qid] = max(int(squad_normalize_answer(g) == squad_normalize_answer(prediction)) for g in gold_texts)
        f1[qid] = max(_v2_f1(g, prediction) for g in gold_texts)
        if qid not in na_probs:
            raise ValueError(f"question {qid!r} has no no-answer probability in na_probs")
        if na_probs[qid] > na_prob_thresh:
            exact[qid] = f1[qid] = float(not has_answer[qid])

    def subset(qids: list[str]) -> dict[str, float]:
        total = len(qids)
        return {
            "exact_match": 100.0 * sum(exact[q] for q in qids) / total,
            "f1": 100.0 * sum(f1[q] for q in qids) / total,
            "total": total,
        }

    total = len(exact)
    out: dict[str, float] = {
        "exact_match": 100.0 * sum(exact.values()) / total,
        "f1": 100.0 * sum(f1.values()) / total,
    }
    if breakdown:
        out["total"] = total
        for prefix, want in (("HasAns", True), ("NoAns", False)):
            qids = [q for q, has in has_answer.items() if has is want]
            if qids:
                out.update({f"{prefix}_{k}": v for k, v in subset(qids).items()})
    return out


# ---------------------------------------------------------------------------------------- retrieval
def retrieval_top1_accuracy(
    similarity_or_predictions: np.ndarray | Sequence[int], gold: Sequence[int] | None = None
) -> float:
    """Top-1 retrieval accuracy, 0-100 (Tatoeba: is the nearest English sentence the translation?).

    Either a similarity matrix (queries x candidates; the prediction is each row's argmax, ties going to
    the lowest index) or a 1-D sequence of predicted candidate indices. `gold` holds each query's correct
    index; for a matrix it defaults to the diagonal (query i <-> candidate i), Tatoeba's line alignment.
    """
    values = np.asarray(similarity_or_predictions)
    if values.ndim == 2:
        if values.shape[0] == 0:
            raise ValueError("retrieval accuracy of no queries is undefined")
        predicted = values.argmax(axis=1)
        if gold is None:
            if values.shape[1] < values.shape[0]:
                raise ValueError(
                    f"the diagonal gold needs as many candidates as queries; similarity has shape {values.shape}"
                )
            gold = np.arange(values.shape[0])
    elif values.ndim == 1:
        if gold is None:
            raise ValueError("predicted indices need `gold` indices to compare with")
        predicted = values
    else:
        raise ValueError(f"expected a 2-D similarity matrix or 1-D predicted indices, got shape {values.shape}")
    gold_array = np.asarray(gold)
    if gold_array.shape != predicted.shape:
        raise ValueError(f"{predicted.shape[0]} predictions but {gold_array.shape} gold indices")
    if predicted.shape[0] == 0:
        raise ValueError("retrieval accuracy of no queries is undefined")
    correct = int(np.count_nonzero(predicted == gold_array))
    return float(correct) / predicted.shape[0] * 100


def _pair_set(pairs: Iterable[str | Sequence[str]]) -> set[tuple[str, ...]]:
    # The official files hold "src_id<TAB>trg_id" lines; tuples are accepted as they are.
    return {tuple(p.split("\t")) if isinstance(p, str) else tuple(p) for p in pairs}


def bucc_f1(
    gold_pairs: Iterable[str | Sequence[str]], predicted_pairs: Iterable[str | Sequence[str]]
) -> dict[str, float]:
    """Precision, recall and F1 (0-100) of mined sentence pairs against the gold pairs (BUCC 2018).

    Pairs are (source id, target id) tuples or "source<TAB>target" strings; duplicates count once.
    """
    gold = _pair_set(gold_pairs)
    predicted = _pair_set(predicted_pairs)
    ncorrect = len(gold & predicted)
    if ncorrect > 0:
        precision = ncorrect / len(predicted)
        recall = ncorrect / len(gold)
        f1 = 2 * precision * recall / (precision + recall)
    else:
        precision = recall = f1 = 0.0
    return {"f1": f1 * 100, "precision": precision * 100, "recall": recall * 100}


def average_precision_at_k(relevant: Iterable[Hashable], ranked: Sequence[Hashable], k: int | None = 20) -> float:
    """AP@k of one ranking (0-1), as LAReQA's `average_precision_at_k`: precision at each first hit
    within the top k, summed, divided by min(number relevant, k). A repeated candidate scores once."""
    targets = set(relevant)
    if not targets:
        raise ValueError("AP of a query without relevant candidates is undefined")
    if k:
        ranked = ranked[:k]
    score = hits = 0.0
    seen: set = set()
    for i, candidate in enumerate(ranked):
        if candidate in targets and candidate not in seen:
            hits += 1.0
            score += hits / (i + 1.0)
        seen.add(candidate)
    divisor = min(len(targets), k) if k else len(targets)
    return score / divisor


def map_at_k(relevant: Sequence[Iterable[Hashable]], ranked: Sequence[Sequence[Hashable]], k: int | None = 20) -> float:
    """Mean AP@k over queries, 0-100 (LAReQA's mAP@20). `relevant[i]` holds query i's correct candidates,
    `ranked[i]` its candidates best first; `k=None` scores the whole ranking."""
    if len(relevant) != len(ranked):
        raise ValueError(f"{len(relevant)} queries with relevant sets but {len(ranked)} rankings")
    if not ranked:
        raise ValueError("mAP of no queries is undefined")
    ap = []
    for i, (targets, ranking) in enumerate(zip(relevant, ranked)):
        try:
            ap.append(average_precision_at_k(targets, ranking, k))
        except ValueError as err:
            raise ValueError(f"query {i}: {err}") from None
    # np.mean as LAReQA's code: its pairwise sum can differ in the last bits from a running sum.
    return float(np.mean(ap)) * 100


def mrr_at_k(gold: Sequence[Hashable], ranked: Sequence[Sequence[Hashable]], k: int | None = 20) -> float:
    """Mean reciprocal rank of the gold item within the top k, 0-100 (Mewsli-X's official "map@20").

    With one gold item per query, as in Mewsli-X, this equals mAP@k. An empty ranking scores 0.
    """
    if len(gold) != len(ranked):
        raise ValueError(f"{len(gold)} gold items but {len(ranked)} rankings")
    reciprocal_ranks = []
    for target, ranking in zip(gold, ranked):
        rr = 0.0
        for rank, candidate in enumerate(ranking[:k] if k else ranking, start=1):
            if candidate == target:
                rr = 1.0 / rank
                break
        reciprocal_ranks.append(rr)
    mrr = sum(reciprocal_ranks) / len(reciprocal_ranks) if reciprocal_ranks else 0.0
    return mrr * 100


def mewslix_mrr(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, Sequence[str]], k: int = 20) -> float:
    """Mewsli-X's score from its files, 0-100: `gold` maps mention id -> [gold entity id] (a singleton
    list, stripped of whitespace), `predictions` maps mention id -> entity ids best first. A mention
    without predictions scores 0; predictions for unknown mentions are ignored."""
    gold_ids = []
    for mention, entities in gold.items():
        if not entities:
            raise ValueError(f"mention {mention!r} has no gold entity")
        gold_ids.append(entities[0].strip())
    rankings = [list(predictions.get(mention, []))[:k] for mention in gold]
    return mrr_at_k(gold_ids, rankings, k)


# ----------------------------------------------------------------------------------------- registry
def _register(*metrics: Metric) -> dict[str, Metric]:
    registry: dict[str, Metric] = {}
    for metric in metrics:
        if metric.name in registry:
            raise ValueError(f"metric {metric.name!r} is registered twice")
        registry[metric.name] = metric
    return registry


# Each fn takes (labels, predictions, **options) and returns one number on 0-100; the functions above that
# return several numbers are registered once per number.
METRICS: dict[str, Metric] = _register(
    Metric("accuracy", True, accuracy),
    Metric("seqeval_f1", True, seqeval_f1),
    Metric("squad_exact_match", True, lambda a, p: squad_scores(a, p)["exact_match"]),
    Metric("squad_f1", True, lambda a, p: squad_scores(a, p)["f1"]),
    Metric("mlqa_exact_match", True, lambda a, p, lang: mlqa_scores(a, p, lang)["exact_match"]),
    Metric("mlqa_f1", True, lambda a, p, lang: mlqa_scores(a, p, lang)["f1"]),
    Metric("squad_v2_exact_match", True, lambda a, p, **kw: squad_v2_scores(a, p, **kw)["exact_match"]),
    Metric("squad_v2_f1", True, lambda a, p, **kw: squad_v2_scores(a, p, **kw)["f1"]),
    Metric("retrieval_top1_accuracy", True, retrieval_top1_accuracy),
    Metric("bucc_f1", True, lambda g, p: bucc_f1(g, p)["f1"]),
    Metric("map@20", True, lambda rel, ranked: map_at_k(rel, ranked, k=20)),
    Metric("mrr@20", True, lambda gold, ranked: mrr_at_k(gold, ranked, k=20)),
)


# ------------------------------------------------------------------------------------ metric families
@dataclass(frozen=True)
class MetricFamily:
    """How a task is scored: `fn(gold, predictions, language) -> {value name: value on 0-100}`.

    `reports` maps each value name the family returns to the registered `Metric` it is (a key of `METRICS`):
    the family's direction is theirs, and a family whose metrics disagree cannot be registered (its values are
    averaged into one task score). A call checks that the values are exactly the ones `reports` names.
    """

    name: str
    reports: Mapping[str, str]
    fn: Callable[[list, list, str], dict[str, float]] = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.reports:
            raise ValueError(f"metric family {self.name!r} reports no metric")
        unknown = sorted(m for m in self.reports.values() if m not in METRICS)
        if unknown:
            raise ValueError(f"metric family {self.name!r} names unregistered metric(s) {unknown}; known: {sorted(METRICS)}")
        directions = {METRICS[m].higher_is_better for m in self.reports.values()}
        if len(directions) > 1:
            raise ValueError(f"metric family {self.name!r} mixes higher- and lower-is-better metrics "
                             f"{dict(self.reports)}; its values are averaged into one task score")

    @property
    def higher_is_better(self) -> bool:
        return METRICS[next(iter(self.reports.values()))].higher_is_better

    @property
    def score_keys(self) -> tuple[str, ...]:
        """The values that make a task's score by default (`study.tasks.registry.task_score`): QA's exact
        match and F1, whose mean it is, or the family's one value."""
        return tuple(self.reports)

    def __call__(self, gold: list, predicted: list, lang: str) -> dict[str, float]:
        values = self.fn(gold, predicted, lang)
        if set(values) != set(self.reports):
            raise ValueError(f"metric family {self.name!r} returned {sorted(values)}, but reports {sorted(self.reports)}")
        return values


def _squad_like(fn: Callable[..., dict[str, float]]) -> Callable[[list, list, str], dict[str, float]]:
    def score(gold: list[list[str]], predicted: list[str], lang: str) -> dict[str, float]:
        answers = {str(i): g for i, g in enumerate(gold)}
        preds = {str(i): p for i, p in enumerate(predicted)}
        return fn(answers, preds, lang)

    return score


def _flat_accuracy(gold: list[list[str]], predicted: list[list[str]], lang: str) -> dict[str, float]:
    # Token accuracy over all words (CCG supertagging is scored per word, not per chunk).
    return {"accuracy": accuracy([t for s in gold for t in s], [t for s in predicted for t in s])}


def register_family(family: MetricFamily) -> MetricFamily:
    """Add a metric family to the ones tasks can name (`Task.metric`)."""
    if family.name in METRIC_FAMILIES:
        raise ValueError(f"metric family {family.name!r} is registered twice")
    METRIC_FAMILIES[family.name] = family
    return family


# Each family names the metric that the official aggregation uses as the per-language task score ("score"
# rows, study.tasks.registry.task_score): (EM + F1) / 2 for QA, else its one value.
METRIC_FAMILIES: dict[str, MetricFamily] = {}
for _family in (
    MetricFamily("accuracy", {"accuracy": "accuracy"}, lambda g, p, lang: {"accuracy": accuracy(g, p)}),
    MetricFamily("seqeval_f1", {"f1": "seqeval_f1"}, lambda g, p, lang: {"f1": seqeval_f1(g, p)}),
    MetricFamily("squad", {"exact_match": "squad_exact_match", "f1": "squad_f1"},
                 _squad_like(lambda a, p, lang: squad_scores(a, p))),
    MetricFamily("squad_v2", {"exact_match": "squad_v2_exact_match", "f1": "squad_v2_f1"},
                 _squad_like(lambda a, p, lang: squad_v2_scores(a, p))),
    MetricFamily("mlqa", {"exact_match": "mlqa_exact_match", "f1": "mlqa_f1"},
                 _squad_like(lambda a, p, lang: mlqa_scores(a, p, lang))),
    MetricFamily("retrieval_accuracy", {"accuracy": "accuracy"}, lambda g, p, lang: {"accuracy": accuracy(g, p)}),
    MetricFamily("token_accuracy", {"accuracy": "accuracy"}, _flat_accuracy),
    MetricFamily("bucc_f1", {"f1": "bucc_f1"}, lambda g, p, lang: {"f1": bucc_f1(g, p)["f1"]}),
    MetricFamily("map@20", {"map@20": "map@20"}, lambda g, p, lang: {"map@20": map_at_k(g, p, k=20)}),
    # Mewsli-X's official "map@20" is MRR@20 of the one gold entity (equal to mAP@20 with one relevant item).
    MetricFamily("mrr@20", {"map@20": "mrr@20"}, lambda g, p, lang: {"map@20": mrr_at_k([x[0] for x in g], p, k=20)}),
):
    register_family(_family)
del _family


def signal_mode(families: Mapping[str, str]) -> str:
    """Tune's `mode` ("max" or "min") for a signal averaged over scores, from their metric families' direction.

    `families` maps what is averaged (a task's name) to its metric family (a key of `METRIC_FAMILIES`). A mean
    of higher- and lower-is-better scores ranks nothing, so mixed directions raise a ValueError naming them.
    """
    if not families:
        return "max"  # nothing is averaged (a study whose signal has no task): the default, as Tune's
    unknown = sorted(f for f in families.values() if f not in METRIC_FAMILIES)
    if unknown:
        raise ValueError(f"unknown metric family(ies) {unknown}; known: {sorted(METRIC_FAMILIES)}")
    higher = {name: METRIC_FAMILIES[f].higher_is_better for name, f in families.items()}
    if len(set(higher.values())) > 1:
        up = sorted(n for n, h in higher.items() if h)
        down = sorted(n for n, h in higher.items() if not h)
        raise ValueError(f"the signal averages higher-is-better scores ({', '.join(up)}) with lower-is-better ones "
                         f"({', '.join(down)}); a mean of both ranks nothing. Choose tasks of one direction, or "
                         "`asha.signal: task:NAME`")
    return "max" if next(iter(higher.values())) else "min"
