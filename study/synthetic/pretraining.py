"""Kept as one module: corpus, tokenizer, pretraining loop and the locked, fingerprinted build of a tiny model
share FORMAT_VERSION and the pinned numerics; apart, a change to one could miss the fingerprint of another.

Tiny XLM-R encoders pretrained offline on the built-in benchmark's generated corpus.

`ensure_tiny_model(cfg)` returns a folder that `AutoModel` and `AutoTokenizer` load offline. It is
built once per configuration fingerprint (SHA-256 of the config and FORMAT_VERSION), under a file
lock so that two processes never build the same model twice, into a temporary folder that is
renamed into place only when complete. The tokenizer is shared by every model built from the same
corpus and is cached under its own fingerprint.

The tokenizer is word level: a Unigram model whose pieces are every word type of the five languages
(plus single characters as a fallback), scored by corpus frequency. The `tokenizers` Unigram trainer
drops whole words on a lexicon this small; listing every word as a piece keeps each generated word
one token, so a tag or a cue word is always exactly one position.

Reproducible weights: pretraining runs in a fresh Python process (`build_model`) whose numerics are
pinned (`PINNED_NUMERICS`): one thread, PyTorch's generic (non-vectorised) CPU kernels instead of the
AVX2/AVX-512 ones it would pick for the machine, MKL in its conditional-numerical-reproducibility mode,
oneDNN off, and deterministic algorithms. Each of these otherwise changes the floating-point rounding,
and after a few hundred steps the weights: a different thread count or CPU vector extension gave
different weights here. Pinned, the weights do not depend on the caller's thread count or settings
(tested); across x86-64 machines with the same pinned torch they should not either, since no code path
depends on the CPU any more (not checked on a second CPU model). Another CPU architecture (aarch64, no
MKL) or another torch version gives other weights. The price is about 20% slower pretraining.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import pathlib
import shutil
import string
import subprocess
import sys
import time
import uuid
from collections import Counter

import numpy as np

from study.synthetic.benchmark import (
    BUILTIN_LANGUAGES,
    CODE_SWITCH_RATE,
    CODE_SWITCH_WORD_RATE,
    GENERATOR_VERSION,
    benchmark,
)

# Bump when the build procedure changes in a way that changes the weights or the files written.
FORMAT_VERSION = 2
TOKENIZER_FORMAT_VERSION = 1

SPECIAL_TOKENS: tuple[str, ...] = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3, as in XLM-R
MASK_TOKEN = "<mask>"  # the last id, as in XLM-R
# Longest input, in tokens, that downstream code may feed (positions beyond `seq_len` exist but
# are not pretrained). The built-in tasks fit in 64 tokens.
MAX_LENGTH = 128


@dataclasses.dataclass(frozen=True)
class TinyModelConfig:
    """Architecture, MLM schedule and data of one tiny encoder. Every field enters the fingerprint."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 256
    mlm_steps: int = 1000
    batch_size: int = 128  # sequences per step
    seq_len: int = 32  # tokens per sequence, <s> and </s> included
    learning_rate: float = 1e-3  # peak AdamW learning rate
    warmup_fraction: float = 0.06  # of mlm_steps, linear warmup then linear decay to 0
    weight_decay: float = 0.01
    mask_probability: float = 0.15
    dropout: float = 0.1
    seed: int = 0  # weights init, masking and batch order
    benchmark_seed: int = 0  # which generated world the corpus comes from
    corpus_sentences_per_language: int = 40_000
    code_switch_rate: float = CODE_SWITCH_RATE  # share of corpus sentences that are code-switched
    code_switch_word_rate: float = CODE_SWITCH_WORD_RATE  # share of words switched in those

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by num_heads={self.num_heads}")
        if not 4 <= self.seq_len <= MAX_LENGTH:
            raise ValueError(f"seq_len={self.seq_len} must be within [4, {MAX_LENGTH}]")
        for name in ("mlm_steps", "batch_size", "corpus_sentences_per_language", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1")
        if not 0.0 < self.mask_probability < 1.0:
            raise ValueError(f"mask_probability={self.mask_probability} must be in (0, 1)")

    def fingerprint(self) -> str:
        payload = {"format_version": FORMAT_VERSION, "generator_version": GENERATOR_VERSION,
                   "config": dataclasses.asdict(self)}
        return _sha256(json.dumps(payload, sort_keys=True))

    def tokenizer_fingerprint(self) -> str:
        payload = {
            "format_version": TOKENIZER_FORMAT_VERSION,
            "generator_version": GENERATOR_VERSION,
            "benchmark_seed": self.benchmark_seed,
            "corpus_sentences_per_language": self.corpus_sentences_per_language,
        }
        return _sha256(json.dumps(payload, sort_keys=True))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# The two default sizes. 64-token sequences so that every built-in task input (SQuAD-like contexts are
# the longest, about 60 tokens) sits on pretrained positions.
#
# Pretraining budget: the same tokens per parameter for each size. Compute-optimal training grows the
# tokens in proportion to the parameters (Hoffmann et al. 2022, embeddings counted as they count them),
# so equal steps would starve the larger size; both sizes draw batches of one shape, so their steps are
# in proportion to their parameters: tiny 0.24M x 800 steps, small 0.88M x 2,900 (3.64x the parameters,
# 3.63x the steps), about 4.5 tokens per parameter each (pretrain.json's tokens_seen). That is below
# the compute-optimal ~20 for both: the level is what a demo on 2 CPU cores affords (small's build is
# the long one, see README), the ratio is what keeps the comparison fair.
TINY_SIZES: dict[str, TinyModelConfig] = {
    "tiny": TinyModelConfig(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=256,
                            mlm_steps=800, batch_size=64, seq_len=64, learning_rate=2e-3),
    "small": TinyModelConfig(hidden_size=128, num_layers=3, num_heads=4, intermediate_size=512,
                             mlm_steps=2900, batch_size=64, seq_len=64, learning_rate=1e-3),
}


def default_cache_dir() -> pathlib.Path:
    """`$XSTUDY_CACHE_DIR/models`, else `~/.cache/xstudy/models`."""
    root = os.environ.get("XSTUDY_CACHE_DIR")
    base = pathlib.Path(root) if root else pathlib.Path.home() / ".cache" / "xstudy"
    return base / "models"


# ---------------------------------------------------------------------------------------------
# Corpus and tokenizer


@functools.lru_cache(maxsize=2)
def _corpus(benchmark_seed: int, per_language: int, code_switch_rate: float,
            code_switch_word_rate: float) -> dict[str, tuple[str, ...]]:
    bench = benchmark(benchmark_seed)
    return {lang: tuple(bench.corpus(lang, per_language, code_switch_rate=code_switch_rate,
                                     code_switch_word_rate=code_switch_word_rate))
            for lang in BUILTIN_LANGUAGES}


def build_tokenizer(benchmark_seed: int = 0, corpus_sentences_per_language: int = 40_000):
    """A word-level Unigram `tokenizers.Tokenizer` over the generated corpus, wrapped as XLM-R's fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    bench = benchmark(benchmark_seed)
    counts: Counter[str] = Counter()
    # The vocabulary does not depend on code-switching (every word type is a piece anyway), only
    # the scores do, slightly: count on the monolingual corpus so all models share one tokenizer.
    for sentences in _corpus(benchmark_seed, corpus_sentences_per_language, 0.0, 0.0).values():
        for sentence in sentences:
            counts.update(sentence.split())
    # Every word a task can produce is a piece, even if the sampled corpus missed it.
    words = set(counts)
    for lang in BUILTIN_LANGUAGES:
        words |= bench.vocabulary(lang)
    total = sum(counts.values()) + len(words)
    # Log-probabilities with add-one smoothing; a piece that is a whole word always outscores its
    # spelling in characters (each character costs far more than any word).
    word_pieces = sorted(((f"\u2581{w}", math.log((counts[w] + 1) / total)) for w in words),
                         key=lambda p: (-p[1], p[0]))
    floor = min(score for _, score in word_pieces) - 10.0
    alphabet = sorted(set(string.ascii_letters + string.digits + string.punctuation) | {c for w in words for c in w})
    char_pieces = [("\u2581", floor)] + [(c, floor) for c in alphabet]
    seen: set[str] = set()
    vocab = []
    for piece, score in [(t, 0.0) for t in SPECIAL_TOKENS] + word_pieces + char_pieces + [(MASK_TOKEN, 0.0)]:
        if piece not in seen:  # a one-letter word and its character never collide ("▁a" vs "a")
            seen.add(piece)
            vocab.append((piece, score))
    unk_id = SPECIAL_TOKENS.index("<unk>")
    tok = Tokenizer(models.Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = SPECIAL_TOKENS.index("<s>"), SPECIAL_TOKENS.index("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return XLMRobertaTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token=MASK_TOKEN, model_max_length=MAX_LENGTH,
    )


def ensure_tokenizer(cfg: TinyModelConfig, cache_dir: pathlib.Path | None = None) -> pathlib.Path:
    """The folder of the tokenizer `cfg` uses, built on first use."""
    cache_dir = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    name = f"tokenizer-{cfg.tokenizer_fingerprint()[:16]}"

    def build(tmp: pathlib.Path) -> None:
        start = time.perf_counter()
        tokenizer = build_tokenizer(cfg.benchmark_seed, cfg.corpus_sentences_per_language)
        tokenizer.save_pretrained(tmp)
        info = {"benchmark_seed": cfg.benchmark_seed,
                "corpus_sentences_per_language": cfg.corpus_sentences_per_language,
                "fingerprint": cfg.tokenizer_fingerprint(), "format_version": TOKENIZER_FORMAT_VERSION,
                "vocab_size": len(tokenizer), "wall_seconds": round(time.perf_counter() - start, 3)}
        (tmp / "tokenizer_build.json").write_text(json.dumps(info, indent=2) + "\n")

    return _build_once(cache_dir, name, "tokenizer_build.json", build)


# ---------------------------------------------------------------------------------------------
# Build-once machinery


def _build_once(cache_dir: pathlib.Path, name: str, marker: str, build) -> pathlib.Path:
    """Return cache_dir/name, calling build(tmp) first unless it already exists.

    `marker` is the file the build writes last; a folder without it is never returned. The build
    happens in a sibling temporary folder renamed into place, under a lock so that a second process
    waits and then finds the finished folder.
    """
    from filelock import FileLock

    final = cache_dir / name
    if (final / marker).is_file():
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / f"{name}.lock")):
        if (final / marker).is_file():
            return final
        # Holding the lock, no other build of `name` is running: older temporary folders are
        # leftovers of killed builds.
        for stale in cache_dir.glob(f".{name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = cache_dir / f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            build(tmp)
            if final.exists():  # an interrupted older build without its marker
                shutil.rmtree(final)
            os.rename(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


# ---------------------------------------------------------------------------------------------
# MLM pretraining


class _SentenceBatches:
    """MLM batches of sentence-aligned sequences.

    Each sequence is <s>, then 1 to 5 consecutive sentences of one language separated by
    </s></s> (XLM-R's sentence-pair separator), then </s>, cut at `seq_len` tokens; one batch
    holds one sentence count, so dynamic padding wastes little. Sequences start at a sentence
    start, as every downstream input does; the 5-sentence ones (about 55 tokens) train the
    positions that multi-sentence inputs such as the SQuAD-like contexts reach. Packing a continuous stream into fixed windows instead (RoBERTa's FULL-SENTENCES)
    was measured to leave a 2-layer encoder predicting the unigram distribution after 3,000 steps:
    with sentences at random offsets, absolute positions say nothing about syntax, and learning
    relative attention from scratch is the slow phase this budget cannot afford.
    """

    SENTENCES_PER_SEQUENCE = (1, 2, 3, 5)
    WEIGHTS = (0.45, 0.3, 0.15, 0.1)  # 2.0 sentences per sequence on average

    def __init__(self, tokenizer, cfg: TinyModelConfig) -> None:
        corpus = _corpus(cfg.benchmark_seed, cfg.corpus_sentences_per_language,
                         cfg.code_switch_rate, cfg.code_switch_word_rate)
        self.languages = list(corpus)
        self.sentences = [
            [e.ids for e in tokenizer.backend_tokenizer.encode_batch_fast(list(corpus[lang]),
                                                                          add_special_tokens=False)]
            for lang in self.languages
        ]
        self.bos, self.eos, self.pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)

    def __call__(self):
        import torch

        cfg, rng = self.cfg, self.rng
        k = int(rng.choice(self.SENTENCES_PER_SEQUENCE, p=self.WEIGHTS))
        langs = rng.integers(0, len(self.languages), cfg.batch_size)
        rows = []
        for lang in langs:
            sentences = self.sentences[lang]
            start = int(rng.integers(0, len(sentences) - k + 1))
            ids = [self.bos]
            for j, sentence in enumerate(sentences[start: start + k]):
                if j and len(ids) + 2 + len(sentence) + 1 > cfg.seq_len:
                    break
                ids += ([self.eos, self.eos] if j else []) + sentence
            rows.append(ids[: cfg.seq_len - 1] + [self.eos])
        batch = torch.full((len(rows), max(map(len, rows))), self.pad, dtype=torch.long)
        for i, ids in enumerate(rows):
            batch[i, : len(ids)] = torch.tensor(ids)
        return batch


def _mask(batch, special_ids, vocab_size: int, mask_id: int, first_word_id: int, p: float, generator):
    """BERT masking: choose p of the non-special positions; of those 80% -> <mask>, 10% -> a random
    word, 10% unchanged. Returns (inputs, positions chosen, their original ids)."""
    import torch

    special = torch.isin(batch, special_ids)
    chosen = (torch.rand(batch.shape, generator=generator) < p) & ~special
    targets = batch[chosen]
    inputs = batch.clone()
    roll = torch.rand(batch.shape, generator=generator)
    inputs[chosen & (roll < 0.8)] = mask_id
    random_pos = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[random_pos] = torch.randint(first_word_id, vocab_size - 1, (int(random_pos.sum()),), generator=generator)
    return inputs, chosen, targets


def mlm_model_config(cfg: TinyModelConfig, tokenizer):
    """The `XLMRobertaConfig` of the encoder that `pretrain` builds for `cfg` with this tokenizer."""
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
        hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout,
        # RoBERTa positions start after the padding index (1): two extra slots.
        max_position_embeddings=MAX_LENGTH + 2, type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, layer_norm_eps=1e-5,
    )


def encoder_parameters(cfg: TinyModelConfig, tokenizer) -> int:
    """Parameters of the encoder that `pretrain` builds for `cfg`, embeddings included: the figure that its
    pretrain.json records as "parameters". Counted on the meta device, so nothing is allocated."""
    import torch
    from transformers import XLMRobertaModel

    with torch.device("meta"):
        encoder = XLMRobertaModel(mlm_model_config(cfg, tokenizer), add_pooling_layer=False)
    return sum(p.numel() for p in encoder.parameters())


def pretrain(cfg: TinyModelConfig, tokenizer, out_dir: pathlib.Path) -> dict:
    """Run MLM pretraining for `cfg` and save the model (safetensors) to `out_dir`; returns stats."""
    import torch
    from transformers import XLMRobertaForMaskedLM

    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    batches = _SentenceBatches(tokenizer, cfg)
    vocab_size = len(tokenizer)
    model = XLMRobertaForMaskedLM(mlm_model_config(cfg, tokenizer))
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "LayerNorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "LayerNorm" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=cfg.learning_rate, betas=(0.9, 0.98), eps=1e-6)
    warmup = max(1, round(cfg.warmup_fraction * cfg.mlm_steps))

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (cfg.mlm_steps - step) / max(1, cfg.mlm_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    generator = torch.Generator().manual_seed(cfg.seed)
    special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    first_word_id = len(SPECIAL_TOKENS)
    losses, tokens_seen = [], 0
    for step in range(cfg.mlm_steps):
        batch = batches()
        inputs, chosen, targets = _mask(batch, special_ids, vocab_size, tokenizer.mask_token_id,
                                        first_word_id, cfg.mask_probability, generator)
        hidden = model.roberta(input_ids=inputs, attention_mask=(batch != tokenizer.pad_token_id).long()).last_hidden_state
        # The vocabulary projection only where a prediction is scored: ~15% of the positions.
        logits = model.lm_head(hidden[chosen])
        loss = torch.nn.functional.cross_entropy(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        tokens_seen += int((batch != tokenizer.pad_token_id).sum())
    train_seconds = time.perf_counter() - start
    model.eval()
    model.save_pretrained(out_dir)  # safetensors; AutoModel loads the encoder, ignoring lm_head
    tail = losses[-min(50, len(losses)):]
    return {
        # The encoder as AutoModel(add_pooling_layer=False) loads it, embeddings included; the MLM
        # head's own weights (its decoder is tied to the embeddings) are counted apart.
        "parameters": sum(p.numel() for p in model.roberta.parameters()),
        "parameters_without_embeddings": sum(p.numel() for p in model.roberta.encoder.parameters()),
        "mlm_head_parameters": sum(p.numel() for n, p in model.lm_head.named_parameters() if "decoder.weight" not in n),
        "final_mlm_loss": round(float(np.mean(tail)), 4),  # mean of the last 50 steps, nats/token
        "initial_mlm_loss": round(float(np.mean(losses[:10])), 4),
        "loss_curve": [round(float(np.mean(losses[i: i + 50])), 4) for i in range(0, len(losses), 50)],
        "train_seconds": round(train_seconds, 2),
        "steps_per_second": round(cfg.mlm_steps / train_seconds, 2),
        "tokens_seen": tokens_seen,  # non-padding tokens, specials included
    }


def tiny_model_folder(cfg: TinyModelConfig, cache_dir: pathlib.Path | None = None) -> pathlib.Path:
    """Where `ensure_tiny_model(cfg)` keeps the model; it is complete once `pretrain.json` is in it."""
    cache_dir = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cache_dir / f"xlmr-h{cfg.hidden_size}-l{cfg.num_layers}-{cfg.fingerprint()[:16]}"


def tiny_model_built(cfg: TinyModelConfig, cache_dir: pathlib.Path | None = None) -> bool:
    return (tiny_model_folder(cfg, cache_dir) / "pretrain.json").is_file()


# The environment of the pretraining process; read by PyTorch and MKL when they load, hence a fresh process.
PINNED_NUMERICS: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "default",  # PyTorch's generic kernels, whatever vector extensions the CPU has
    "MKL_CBWR": "COMPATIBLE",  # MKL's reproducible code path, the same on every x86-64 CPU
    "OMP_NUM_THREADS": "1",  # reductions split over threads round differently with another thread count
    "MKL_NUM_THREADS": "1",
}


def build_model(cfg: TinyModelConfig, tokenizer_dir: pathlib.Path, out_dir: pathlib.Path) -> dict:
    """Pretrain `cfg` into `out_dir` in a fresh process with `PINNED_NUMERICS`; returns `pretrain`'s stats."""
    stats_file = out_dir / ".pretrain-stats.json"
    command = [sys.executable, "-m", "study.synthetic.pretraining", json.dumps(dataclasses.asdict(cfg)), str(tokenizer_dir),
               str(out_dir), str(stats_file)]
    env = {**os.environ, **PINNED_NUMERICS}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pretraining the tiny model {cfg.fingerprint()[:16]} failed (exit {done.returncode}):\n"
                           f"{done.stderr[-4000:]}")
    stats = json.loads(stats_file.read_text())
    stats_file.unlink()
    return stats


def _pretrain_pinned(cfg: TinyModelConfig, tokenizer_dir: pathlib.Path, out_dir: pathlib.Path, stats_file: pathlib.Path) -> None:
    """The body of the pretraining process (`build_model`): pinned numerics, then `pretrain`."""
    import torch
    from transformers import AutoTokenizer

    for name, value in PINNED_NUMERICS.items():
        if os.environ.get(name) != value:
            raise RuntimeError(f"pretraining needs {name}={value} in its environment before torch loads; use build_model")
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    torch.use_deterministic_algorithms(True)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    stats = pretrain(cfg, tokenizer, out_dir)
    stats["numerics"] = {**PINNED_NUMERICS, "torch_threads": torch.get_num_threads(),
                         "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                         "mkldnn": torch.backends.mkldnn.enabled}
    stats_file.write_text(json.dumps(stats))


def ensure_tiny_model(cfg: TinyModelConfig, cache_dir: pathlib.Path | None = None) -> pathlib.Path:
    """Folder of the pretrained tiny encoder for `cfg` (model + tokenizer + pretrain.json), built once."""
    cache_dir = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    fingerprint = cfg.fingerprint()
    name = tiny_model_folder(cfg, cache_dir).name

    def build(tmp: pathlib.Path) -> None:
        import torch
        import transformers
        from transformers import AutoTokenizer

        start = time.perf_counter()
        tokenizer_dir = ensure_tokenizer(cfg, cache_dir)
        stats = build_model(cfg, tokenizer_dir, tmp)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        tokenizer.save_pretrained(tmp)
        info = {
            "config": dataclasses.asdict(cfg),
            "fingerprint": fingerprint,
            "format_version": FORMAT_VERSION,
            "tokenizer_fingerprint": cfg.tokenizer_fingerprint(),
            "vocab_size": len(tokenizer),
            **stats,
            "wall_seconds": round(time.perf_counter() - start, 2),
            "torch_version": torch.__version__,
            "transformers_version": transformers.__version__,
        }
        (tmp / "pretrain.json").write_text(json.dumps(info, indent=2) + "\n")

    return _build_once(cache_dir, name, "pretrain.json", build)


if __name__ == "__main__":
    _config, _tokenizer, _out, _stats = sys.argv[1:5]
    _pretrain_pinned(TinyModelConfig(**json.loads(_config)), pathlib.Path(_tokenizer), pathlib.Path(_out), pathlib.Path(_stats))
