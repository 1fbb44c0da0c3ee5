"""Span QA windows at every max length `xstudy validate` accepts, on every SQuAD-format file of ../shared/data
(XQuAD in all its languages, MLQA and TyDiQA-GoldP samples) and on questions longer than the window, with the
real XLM-R sentencepiece tokenizer (multilingual-e5-small's); and, on a real paragraph, doc-stride windows
and the choice of the answer across windows or no answer.

The property: tokenization never fails (`tokenizers` panics on a stride that is not strictly less than the
room a question leaves), no window is longer than max_length, questions are cut to the query limit, every
labelled span covers its answer, and every answer no longer than stride + 1 tokens lies whole in a window.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from study.spec import SpecError, parse_spec
from study.tasks import registry
from study.tasks.readers import read_squad_json
from study.tasks.span_qa import MIN_MAX_LENGTH, SpanQA, query_limit, window_stride

LENGTHS = (32, 64, 128, 256)


def squad_files(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "xquad").glob("xquad.*.json"))
    files += sorted((shared_data / "format_samples").rglob("*.json"))
    squad = [f for f in files if '"paragraphs"' in f.read_text(encoding="utf-8")[:100_000]]
    assert len([f for f in squad if f.parent.name == "xquad"]) == 8 and len(squad) >= 11
    return squad


def answer_tokens(tokenizer, examples: list[dict]) -> list[int]:
    """How many context tokens each example's first answer spans (the context tokenized alone)."""
    contexts = list(dict.fromkeys(ex["context"] for ex in examples))
    offsets = dict(zip(contexts, tokenizer(contexts, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]))
    out = []
    for ex in examples:
        start = ex["answers"]["answer_start"][0]
        end = start + len(ex["answers"]["text"][0])
        out.append(sum(1 for a, b in offsets[ex["context"]] if a < end and b > start))
    return out


def check_windows(examples: list[dict], tokenizer, max_length: int, task, spans: list[int] | None = None) -> None:
    """The module's property for one max length; `spans` are the answers' token counts (`answer_tokens`)."""
    feats = SpanQA().features(examples, tokenizer, max_length, task, train=True)
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    limit, stride = query_limit(max_length, specials), window_stride(task.doc_stride, max_length, specials)
    assert 0 < stride < max_length - specials - limit
    found = [False] * len(examples)
    for f, ex_index in enumerate(feats["example"]):
        ids, offsets = feats["input_ids"][f], feats["offsets"][f]
        assert len(ids) <= max_length
        context_tokens = sum(1 for o in offsets if o[0] >= 0)
        assert 0 < context_tokens and len(ids) - context_tokens - specials <= limit  # the question's tokens
        ex = examples[ex_index]
        s, e = feats["start"][f], feats["end"][f]
        if (s, e) != (0, 0):
            a_start = ex["answers"]["answer_start"][0]
            a_end = a_start + len(ex["answers"]["text"][0])
            assert offsets[s][0] <= a_start and offsets[e][1] >= a_end and s <= e, (max_length, ex["id"])
            found[ex_index] = True
    assert set(feats["example"]) == set(range(len(examples))), "every question has a window"
    for ex, n, hit in zip(examples, spans or answer_tokens(tokenizer, examples), found):
        if n <= stride + 1:  # overlapping windows hold every answer this short whole
            assert hit, (max_length, ex["id"], ex["answers"]["text"][0])


def hardest(examples: list[dict], tokenizer, n: int = 20) -> list[dict]:
    """The questions that leave a window the least room (the longest, in tokens), and an even sample of the rest.

    The stride depends only on max_length and the query limit, so a file's longest questions are where a
    window can fail; the sample keeps every kind of context and answer in the check."""
    lengths = [len(ids) for ids in tokenizer([ex["question"] for ex in examples], add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(examples)), key=lambda i: -lengths[i])
    chosen = set(order[:n]) | set(range(0, len(examples), max(1, len(examples) // n)))
    return [examples[i] for i in sorted(chosen)]


@pytest.mark.slow
def test_every_squad_format_file_at_every_length(shared_data, real_tokenizer):
    task = registry.get("xquad")
    for path in squad_files(shared_data):
        examples = hardest([ex for ex in read_squad_json(path) if ex["answers"]["text"]], real_tokenizer)
        spans = answer_tokens(real_tokenizer, examples)
        for max_length in LENGTHS:
            check_windows(examples, real_tokenizer, max_length, task, spans)


def long_questions(shared_data: Path) -> list[dict]:
    """Real XQuAD paragraphs whose questions are longer than any window tested (the question repeated)."""
    rows = read_squad_json(shared_data / "xquad" / "xquad.th.json")[:10] + read_squad_json(shared_data / "xquad" / "xquad.de.json")[:10]
    return [{**ex, "question": " ".join([ex["question"]] * 40)} for ex in rows]


def test_questions_longer_than_the_window_are_cut(shared_data, real_tokenizer):
    task = registry.get("squad_v1")
    examples = long_questions(shared_data)
    assert min(len(real_tokenizer(ex["question"])["input_ids"]) for ex in examples) > max(LENGTHS)
    for max_length in LENGTHS:
        check_windows(examples, real_tokenizer, max_length, task)


def test_every_accepted_length_tokenizes(shared_data, real_tokenizer):
    """Every max length from the minimum up, on long questions, a long context and a one-word context."""
    examples = long_questions(shared_data)[:1] + long_questions(shared_data)[-1:] + [
        {"id": "tiny", "context": "Paris", "question": "Which city? " * 50, "answers": {"text": ["Paris"], "answer_start": [0]}}]
    task = dataclasses.replace(registry.get("squad_v1"), doc_stride=128)
    for max_length in [*range(MIN_MAX_LENGTH, 80), 127, 128, 129, 255, 256, 383, 384, 512]:
        feats = SpanQA().features(examples, real_tokenizer, max_length, task, train=False)
        assert max(len(ids) for ids in feats["input_ids"]) <= max_length


def test_the_old_stride_rule_panics_where_the_new_one_does_not(shared_data, real_tokenizer):
    # A window of 64 with the stride capped at max_length // 2 = 32 and a question that leaves 29 tokens: the panic
    # a real run hit ("stride must be strictly less than max_len").
    ex = long_questions(shared_data)[0]
    question = real_tokenizer.convert_tokens_to_string(real_tokenizer.tokenize(ex["question"])[:31])
    with pytest.raises(BaseException, match="stride"):
        real_tokenizer(question, ex["context"], truncation="only_second", max_length=64, stride=32,
                       return_overflowing_tokens=True)
    check_windows([{**ex, "question": question}], real_tokenizer, 64, registry.get("squad_v1"))


@pytest.mark.parametrize("task", ["squad_v1", "squad_v2", "xquad", "mlqa", "tydiqa"])
def test_validate_rejects_a_max_length_too_short_for_span_qa(task):
    role = "intermediate_tasks" if task.startswith("squad") else "target_tasks"
    spec = {"study": {"name": "s"}, "models": [{"name": "m", "source": {"builtin": "tiny"}, "steps": [0, 10],
                                                 "max_length": MIN_MAX_LENGTH - 1}],
            "intermediate_tasks": ["none"], "target_tasks": ["xnli"]}
    spec[role] = spec[role] + [task]
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    [(path, rule)] = info.value.errors
    assert path == "models[0].max_length" and task in rule and str(MIN_MAX_LENGTH) in rule
    spec["models"][0]["max_length"] = MIN_MAX_LENGTH
    parse_spec(spec)
    spec[role] = [t for t in spec[role] if t != task] or ["xnli"]  # other formats take shorter windows
    spec["models"][0]["max_length"] = 16
    parse_spec(spec)


def test_a_mixture_member_counts_too():
    spec = {"study": {"name": "s"}, "models": [{"name": "m", "source": {"builtin": "tiny"}, "steps": [0, 10], "max_length": 24}],
            "intermediate_tasks": ["none", {"name": "mix", "tasks": ["mnli", "squad_v2"]}], "target_tasks": ["xnli"]}
    with pytest.raises(SpecError, match="squad_v2"):
        parse_spec(spec)


# ------------------------------------------------------------- windows and answers on a real paragraph
class PerfectQA(SpanQA):
    """Span QA whose 'model' points at the labelled start/end of each window, with a chosen first-token score."""

    def __init__(self, null_score: float):
        self.null_score = null_score

    def logits(self, encoder, head, batch):
        n, width = batch["input_ids"].shape
        start = torch.full((n, width), -10.0)
        end = torch.full((n, width), -10.0)
        rows = torch.arange(n)
        has = batch["start"] > 0
        start[rows[has], batch["start"][has]] = 5.0
        end[rows[has], batch["end"][has]] = 5.0
        start[:, 0] = end[:, 0] = self.null_score / 2
        return start.masked_fill(batch["attention_mask"] == 0, float("-inf")), end.masked_fill(batch["attention_mask"] == 0, float("-inf"))


def long_example(shared_data: Path) -> dict:
    """A real XQuAD paragraph whose answer sits near the end, so that only later windows hold it."""
    from study.tasks.readers import read_squad_json

    rows = read_squad_json(shared_data / "xquad" / "xquad.de.json")
    return max(rows, key=lambda r: r["answers"]["answer_start"][0])


def test_doc_stride_windows_on_a_real_paragraph(shared_data, real_tokenizer):
    ex = long_example(shared_data)
    task = dataclasses.replace(registry.get("xquad"), doc_stride=24)
    max_length = 100  # the question keeps at most 48 tokens, leaving at least 48 for the context: stride 24 fits
    feats = SpanQA().features([ex], real_tokenizer, max_length, task, train=True)
    n = len(feats["input_ids"])
    assert n >= 3, "a long context is split into several windows"
    answer, start = ex["answers"]["text"][0], ex["answers"]["answer_start"][0]
    holding = 0
    for f in range(n):
        assert len(feats["input_ids"][f]) <= max_length
        s, e, offsets = feats["start"][f], feats["end"][f], feats["offsets"][f]
        ctx = [o for o in offsets if o[0] >= 0]
        inside = ctx[0][0] <= start and ctx[-1][1] >= start + len(answer)
        if inside:
            holding += 1
            assert ex["context"][offsets[s][0] : offsets[e][1]] == answer
        else:
            assert (s, e) == (0, 0), "a window without the answer points at the first token"
    assert holding >= 1
    # Consecutive windows overlap by exactly the stride (in context tokens) and together cover the context.
    spans = [[tuple(o) for o in offsets if o[0] >= 0] for offsets in feats["offsets"]]
    for a, b in zip(spans, spans[1:]):
        assert a[-24:] == b[:24]
    assert spans[0][0][0] == 0 and spans[-1][-1][1] == len(ex["context"].rstrip())


def test_predict_picks_the_answer_across_windows_and_no_answer(shared_data, real_tokenizer):
    ex = long_example(shared_data)
    unanswerable = {**ex, "id": "none", "answers": {"text": [], "answer_start": []}}
    v1 = dataclasses.replace(registry.get("xquad"), doc_stride=24)
    v2 = dataclasses.replace(registry.get("squad_v2"), doc_stride=24)
    feats = SpanQA().features([ex, unanswerable], real_tokenizer, 96, v2, train=False)
    pad = real_tokenizer.pad_token_id
    # Spans score 10; a first-token score of 0 loses to them, one of 20 beats them.
    assert PerfectQA(0.0).predict(None, None, feats, [ex, unanswerable], v2, 4, pad).values[0] == ex["answers"]["text"][0]
    confident_null = PerfectQA(20.0).predict(None, None, feats, [ex, unanswerable], v2, 4, pad).values
    assert confident_null == ["", ""]
    # Without the no-answer option (SQuAD v1.1, XQuAD), the best span is returned whatever the first token says.
    assert PerfectQA(20.0).predict(None, None, feats, [ex, unanswerable], v1, 4, pad).values[0] == ex["answers"]["text"][0]
    scores = v2.score(SpanQA().gold([ex, unanswerable], v2), confident_null, "en")
    assert scores["exact_match"] == 50.0  # the unanswerable question is right, the answerable one wrong
