"""Training loops: a resumable data stream, intermediate training, cooldown branches, target fine-tuning.

The loop is plain PyTorch so that its step costs what the model costs: no callbacks or logging on the
hot path, padding only to each batch's longest sequence, and token counts taken from the masks.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from study.tasks.base import Features, Format, take


@dataclass
class StreamState:
    """Where a data stream is: epoch and position within that epoch's permutation (JSON-serialisable)."""

    seed: int
    epoch: int = 0
    position: int = 0


LENGTH_WINDOW_BATCHES = 50  # batches per length-grouping window: the Trainer's group_by_length mega-batch


def feature_lengths(features: Features) -> list[int]:
    """Tokens of each example; a multiple-choice example counts its longest choice (what its batch pads to)."""
    out = []
    for ids in features["input_ids"]:
        out.append(max(len(c) for c in ids) if ids and isinstance(ids[0], list) else len(ids))
    return out


class DataStream:
    """Batches drawn without replacement from a seeded permutation per epoch; resumable from its state.

    With `group_by_length`, each epoch's permutation is cut into windows of `LENGTH_WINDOW_BATCHES` batches;
    a window is sorted by length, so that each batch holds examples of similar length and pads little, and
    its batches are then shuffled (as the Trainer's `group_by_length`, whose windows stay in length order).
    The order is still a pure function of (seed, epoch): a stream resumes exactly from its state.
    """

    def __init__(self, features: Features, batch_size: int, state: StreamState, group_by_length: bool = False):
        self.features = features
        self.n = len(features["input_ids"])
        if self.n == 0:
            raise ValueError("cannot train on an empty set of features")
        self.batch_size = batch_size
        self.state = state
        self.group_by_length = group_by_length
        self._lengths = feature_lengths(features) if group_by_length else None
        self._perm = self._permutation(state.epoch)

    def at(self, state: StreamState) -> DataStream:
        """The same stream (data, batch size, grouping) at another position."""
        other = copy.copy(self)
        other.state = state
        other._perm = other._permutation(state.epoch)
        return other

    def _permutation(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(self.state.seed * 100_003 + epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        if self._lengths is None:
            return perm
        window = LENGTH_WINDOW_BATCHES * self.batch_size
        out: list[int] = []
        for start in range(0, self.n, window):
            part = sorted(perm[start : start + window], key=lambda i: -self._lengths[i])  # stable: ties stay random
            batches = [part[k : k + self.batch_size] for k in range(0, len(part), self.batch_size)]
            for b in torch.randperm(len(batches), generator=g).tolist():
                out.extend(batches[b])
        return out

    def next_indices(self) -> list[int]:
        out: list[int] = []
        while len(out) < self.batch_size:
            if self.state.position >= self.n:
                self.state.epoch += 1
                self.state.position = 0
                self._perm = self._permutation(self.state.epoch)
            take_n = min(self.batch_size - len(out), self.n - self.state.position)
            out.extend(self._perm[self.state.position : self.state.position + take_n])
            self.state.position += take_n
        return out

    def next_batch(self, fmt: Format, pad_id: int) -> dict[str, torch.Tensor]:
        return fmt.collate(take(self.features, self.next_indices()), pad_id)


@dataclass
class Cost:
    """What a phase spent: optimizer steps, examples, non-padding tokens, attention pairs, wall seconds.

    `pairs` is the sum over sequences of their squared non-padding length: the token pairs attention scores
    (`study.flops`).
    """

    steps: int = 0
    examples: int = 0
    tokens: int = 0
    seconds: float = 0.0
    pairs: int = 0

    def add(self, other: Cost) -> None:
        self.steps += other.steps
        self.examples += other.examples
        self.tokens += other.tokens
        self.seconds += other.seconds
        self.pairs += other.pairs


def batch_tokens(batch: dict[str, torch.Tensor]) -> int:
    return int(batch["attention_mask"].sum())


def batch_pairs(batch: dict[str, torch.Tensor]) -> int:
    """Sum over the batch's sequences (choices of a multiple-choice example included) of length squared."""
    mask = batch["attention_mask"]
    lengths = mask.reshape(-1, mask.shape[-1]).sum(dim=-1)
    return int((lengths * lengths).sum())


def batch_examples(batch: dict[str, torch.Tensor]) -> int:
    return len(batch["label"]) if "label" in batch else int(batch["input_ids"].shape[0])


def sample_task(names: list[str], weights: list[float], seed: int, step: int) -> str:
    """The task a multi-task step trains on: a pure function of (seed, step), so resuming needs no RNG state."""
    return random.Random(seed * 1_000_003 + step).choices(names, weights=weights, k=1)[0]


LOSS_READ_EVERY = 32  # steps between host reads of the loss: each read waits for the device to catch up


@dataclass
class Phase:
    """One optimizer over an encoder and one head per task, with a learning rate given per step.

    With several tasks, each step trains on one task drawn with the given weights (multi-task intermediate
    training: heads stay per task over the shared encoder).
    """

    encoder: nn.Module
    heads: dict[str, nn.Module]
    formats: dict[str, Format]
    streams: dict[str, DataStream]
    optimizer: torch.optim.Optimizer
    lr_at: Any  # step (0-based) -> learning rate
    max_grad_norm: float
    pad_id: int
    device: torch.device
    autocast: Any
    weights: dict[str, float] | None = None  # sampling shares of a mixture; None for one task
    mix_seed: int = 0
    step: int = 0
    losses: list[float] = field(default_factory=list)
    on_step: Any = None  # called with each step's examples (study.progress); None: nothing
    step_delay_s: float = 0.0  # seconds slept after each step: a test hook (study.progress), 0 otherwise

    def task_at(self, step: int) -> str:
        if len(self.heads) == 1:
            return next(iter(self.heads))
        names = sorted(self.heads)
        return sample_task(names, [self.weights[n] for n in names], self.mix_seed, step)

    def run(self, n_steps: int) -> Cost:
        """Train `n_steps` steps. The host never waits for the device inside a step: the batch's counts come
        from its host copy, and the losses are read (and checked to be finite) every `LOSS_READ_EVERY` steps
        and at the end. A non-finite loss raises FloatingPointError naming its step, at the next read."""
        cost = Cost()
        start = time.perf_counter()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.encoder.train()
        for head in self.heads.values():
            head.train()
        pending: list[tuple[int, str, torch.Tensor]] = []  # (step, task, loss on the device) not yet read
        for _ in range(n_steps):
            name = self.task_at(self.step)
            fmt = self.formats[name]
            host = self.streams[name].next_batch(fmt, self.pad_id)
            batch = {k: v.to(self.device, non_blocking=True) for k, v in host.items()}
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr_at(self.step)
            with self.autocast:
                loss = fmt.loss(self.encoder, self.heads[name], batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
            self.optimizer.step()
            pending.append((self.step, name, loss.detach()))
            self.step += 1
            examples = batch_examples(host)
            cost.steps += 1
            cost.examples += examples
            cost.tokens += batch_tokens(host)
            cost.pairs += batch_pairs(host)
            if len(pending) >= LOSS_READ_EVERY:
                self._read_losses(pending)
            if self.on_step is not None:
                self.on_step(examples)
            if self.step_delay_s:
                time.sleep(self.step_delay_s)
        self._read_losses(pending)
        cost.seconds = time.perf_counter() - start
        return cost

    def _read_losses(self, pending: list[tuple[int, str, torch.Tensor]]) -> None:
        """One host read for the pending losses; appended to `losses`, or FloatingPointError at the first
        non-finite one (the steps after it trained on non-finite gradients: the trial cannot go on)."""
        if not pending:
            return
        values = torch.stack([loss.float() for _, _, loss in pending]).cpu().tolist()
        for (step, name, _), value in zip(pending, values):
            if not math.isfinite(value):
                raise FloatingPointError(f"loss is {value} at step {step} ({name})")
        self.losses.extend(values)
        pending.clear()


def adamw(modules: list[nn.Module], lr: float, weight_decay: float) -> torch.optim.AdamW:
    # No weight decay on biases and LayerNorm weights, as in BERT/RoBERTa fine-tuning.
    decay, no_decay = [], []
    for module in modules:
        for name, p in module.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )


def warmup_stable(lr: float, warmup: int):
    """Warmup-stable: linear warmup, then constant; the trunk of a warmup-stable-decay schedule."""
    return lambda step: lr * min(1.0, (step + 1) / warmup) if warmup > 0 else lr


def linear_decay_from(lr: float, start: int, length: int):
    """Cooldown: `length` steps from `start` whose rates fall linearly from `lr` towards zero,
    lr x (length - k) / (length + 1) at the k-th step (k = 0 .. length - 1): every step trains below the
    trunk's rate and above zero (n = 4: 0.8, 0.6, 0.4, 0.2 x lr; a one-step branch trains at lr / 2)."""
    return lambda step: lr * max(0.0, (length - (step - start)) / (length + 1))


def ceil_steps(x: float) -> int:
    """ceil of a step count computed in floating point, which may land a hair above an integer
    (36816 x (3682 / 36816) = 3682.0000000000005): rounded to 9 decimals first."""
    return int(math.ceil(round(x, 9)))


def cooldown_steps(fraction: float, milestone: int) -> int:
    """Steps of the cooldown branch at `milestone`: `fraction` of the steps so far, rounded up."""
    return ceil_steps(fraction * milestone)


def warmup_linear(lr: float, total: int, warmup: int):
    """Linear warmup over `warmup` steps, then linear decay to zero at `total` steps: the classic schedule."""

    def at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        return lr * max(0.0, (total - step) / max(1, total - warmup))

    return at
