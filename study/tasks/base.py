"""What every task format provides: features from examples, a head, a loss, predictions, a score, and the
submission files and chance level of its tasks.

A format never knows which task it serves beyond the `Task` it is handed (labels, metric, language), so
the built-in benchmark and real datasets go through exactly the same code. Besides training and
prediction, a format owns its tasks' submission layout (`TASK/test-LANG.EXT`, see `study.predictions`):
the extension, the text of a prediction file and of a label file, and the reader that scores such files
with the task's own metric (`xstudy score`, for tasks the official scorer does not know); and its chance
level (`study.baselines`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from study.tasks.submission import line_pairs

if TYPE_CHECKING:
    from study.tasks.registry import Task

Features = dict[str, list[Any]]  # column name -> one value per feature row (Arrow-friendly)


@dataclass
class Predictions:
    """What a format's `predict` returns: one prediction per example, and what it cost."""

    values: list[Any]
    tokens: int  # non-padding tokens the encoder read


def pad(seqs: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Pad to the longest sequence of this batch only: no padding to the global max length."""
    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


def attention_mask(input_ids: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
    ar = torch.arange(input_ids.shape[-1])
    return (ar[None, :] < torch.as_tensor(lengths)[:, None]).long()


def encode(encoder: nn.Module, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Last hidden states of any Hugging Face encoder, shape (batch, length, hidden)."""
    return encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state


class ClassifierHead(nn.Module):
    """RoBERTa's classification head over the first token: dense, tanh, dropout, projection."""

    def __init__(self, hidden: int, n_out: int, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, first_token: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(torch.tanh(self.dense(self.dropout(first_token)))))


class TokenHead(nn.Module):
    """A projection of every token's hidden state (tagging labels, or span start/end logits)."""

    def __init__(self, hidden: int, n_out: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(hidden_states))


class Format:
    """Base of the seven formats (classification, multiple choice, tagging, span QA, retrieval, bitext mining,
    ranking). Subclasses set `name`, `trains`, `suffix`, and implement the methods."""

    name: str = ""
    trains: bool = True  # retrieval is evaluated without training, as XTREME's BUCC and Tatoeba
    min_length: int = 1  # the shortest max_length (tokens) the format can work with; `xstudy validate` checks it
    suffix: str = "tsv"  # the extension of its submission files, `TASK/test-LANG.EXT` (a task may set its own)
    chance_needs_train: bool = False  # whether `chance` reads the English training examples (a majority label)

    def features(self, examples: Sequence[dict], tokenizer: Any, max_length: int, task: Task, train: bool) -> Features:
        raise NotImplementedError

    def make_head(self, hidden: int, task: Task) -> nn.Module | None:
        raise NotImplementedError

    def collate(self, rows: Features, pad_id: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def loss(self, encoder: nn.Module, head: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def predict(
        self, encoder: nn.Module, head: nn.Module | None, features: Features, examples: Sequence[dict], task: Task,
        batch_size: int, pad_id: int, layer: int | None = None,
    ) -> Predictions:
        raise NotImplementedError

    def gold(self, examples: Sequence[dict], task: Task) -> list[Any]:
        raise NotImplementedError

    def count(self, examples: Sequence[dict]) -> int:
        """Examples as the metric counts them (questions, sentences, sentence pairs, queries, gold pairs)."""
        return len(examples)

    # ------------------------------------------------------------- submission files and chance level
    def prediction_text(self, task: Task, examples: Sequence[dict], predictions: Sequence[Any]) -> str:
        """The text of one language's prediction file (layouts: `study.predictions`), from the split's examples
        and the format's predictions for them, in order; refuses predictions the scorer could not pair up."""
        raise ValueError(f"{task.name}: no submission layout for format {self.name!r}")

    def label_text(self, task: Task, examples: Sequence[dict]) -> str:
        """The text of one language's label file: the examples' gold answers, as the official label files hold them."""
        raise ValueError(f"{task.name}: no submission layout for format {self.name!r}")

    def read_submission(self, task: Task, pred_path: Path, label_path: Path, notes: list[str]) -> tuple[list, list]:
        """(gold, predictions) read back from a prediction file and its label file, in the form `task.score`
        takes: what scores a task the official scorer does not know. Raises `ScoringError` for a bad file;
        appends to `notes` what is scored although incomplete (unanswered questions)."""
        raise ValueError(f"{task.name}: no submission reader for format {self.name!r}")

    def chance(self, task: Task, examples: Sequence[dict], train: Sequence[dict], lang: str) -> float | None:
        """The score, on the task's metric, of a constant or uniform guess on `examples`; `train` holds the
        English training examples where `chance_needs_train` (else it may be empty). None: no meaningful
        constant predictor (span QA, bitext mining, ranking)."""
        return None


class OneValuePerLine(Format):
    """A format whose submission holds one prediction per line, and whose label file one gold value per line
    (evaluate.py's `read_label`): classification (labels) and retrieval (indices of the retrieved sentence)."""

    suffix = "tsv"

    def prediction_text(self, task: Task, examples: Sequence[dict], predictions: Sequence[Any]) -> str:
        expect_count(task, len(predictions), len(examples), "examples")
        return text_lines(predictions)

    def label_text(self, task: Task, examples: Sequence[dict]) -> str:
        return text_lines(self.gold(examples, task))

    def read_submission(self, task: Task, pred_path: Path, label_path: Path, notes: list[str]) -> tuple[list, list]:
        # Values as text on both sides: indices and labels are equal exactly when their text is.
        return line_pairs(pred_path, label_path)


# ---------------------------------------------------------------------------- submission text helpers
def text_lines(values: Sequence[Any]) -> str:
    """One value per line, each line ended."""
    return "".join(f"{v}\n" for v in values)


def json_document(value: Any) -> str:
    """A JSON submission file: UTF-8 text as it is, one-space indent, a final line end."""
    return json.dumps(value, ensure_ascii=False, indent=1) + "\n"


def json_label_lines(values: Sequence[Any]) -> str:
    """One {"label": int} object per line (the XCOPA layout)."""
    return "".join(json.dumps({"label": int(v)}) + "\n" for v in values)


def expect_count(task: Task, n_pred: int, n_examples: int, unit: str) -> None:
    """Refuse anything but one prediction per scored unit (`unit`: a plural, e.g. "examples")."""
    if n_pred != n_examples:
        raise ValueError(f"{task.name}: {n_pred} predictions for {n_examples} {unit}; the scorer needs one per {unit[:-1]}")


def token_count(features: Features) -> int:
    """Non-padding tokens in a set of features (input_ids may be nested for multiple choice)."""
    total = 0
    for ids in features["input_ids"]:
        total += sum(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)
    return total


def pair_count(features: Features) -> int:
    """Sum over sequences of their squared length (the token pairs attention scores; see `study.flops`)."""
    total = 0
    for ids in features["input_ids"]:
        total += sum(len(x) ** 2 for x in ids) if ids and isinstance(ids[0], list) else len(ids) ** 2
    return total


def batches_by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, so evaluation pads little; order is restored later."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def take(features: Features, idx: Sequence[int]) -> Features:
    return {k: [v[i] for i in idx] for k, v in features.items()}
