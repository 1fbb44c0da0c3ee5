"""Vocabulary-parallel input embeddings (study.vocab_parallel) on 2 gloo workers, against a plain nn.Embedding
and a plain encoder in one process on the workers' concatenated batch.

- The lookup alone: a vocabulary of 11 rows (rank 0 owns rows 0-5, rank 1 rows 6-10, as FSDP2's Shard(0)
  cuts it), padding_idx 1, batches of different sizes on the two workers and of none on one, ids in both
  halves. Its outputs equal nn.Embedding's bit for bit (each row comes from one worker; the others add
  zeros), in fp32 and cast to bf16 (FSDP's param_dtype); the gradient of each worker's rows equals the
  plain embedding's for the mean of the workers' losses (FSDP's and DDP's average), none to the padding row
  (to 1e-6: the same additions, maybe in another order). An id outside the vocabulary raises on every worker.
- A whole encoder placed by `FullySharded` (a tiny XLM-R, and a tiny mT5 whose `shared` is tied to
  `encoder.embed_tokens`): the word embeddings are one DTensor of ceil(rows / 2) local rows, still tied;
  outputs and every gradient equal one process's on the whole batch (to 1e-5), and over a training step
  (forward, backward, clip_grad_norm_, AdamW, profiled with profile_memory) no tensor of the word
  embeddings' whole size is ever allocated on either worker, where FSDP alone all-gathers the matrix.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from test_meta_load import _free_port, _join

ROWS, WIDTH, PADDING = 11, 5, 1
# Per round, each worker's number of sequences: unequal, then one worker with none.
ROUNDS = [(3, 2), (2, 0)]


class _Holder(nn.Module):
    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        self.embed = embedding

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed


def _round_ids(sizes: tuple[int, ...], length: int, seed: int) -> torch.Tensor:
    """The concatenated batch: ids in both halves of the vocabulary, the padding id among them."""
    ids = torch.randint(0, ROWS, (sum(sizes), length), generator=torch.Generator().manual_seed(seed))
    ids[0, :3] = torch.tensor([PADDING, ROWS - 1, 0])
    return ids


def _lookup_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Shard

    from study.vocab_parallel import VocabParallelEmbedding, shard_input_embeddings, shard_rows

    _join(rank, world, port)
    try:
        mesh = init_device_mesh("cpu", (world,))
        weight = torch.randn(ROWS, WIDTH, generator=torch.Generator().manual_seed(0))
        lo, hi = shard_rows(ROWS, rank, world)
        got = []
        for r, sizes in enumerate(ROUNDS):
            for dtype in (None, torch.bfloat16):
                ids = _round_ids(sizes, 4, seed=r)
                first = sum(sizes[:rank])
                mine = slice(first, first + sizes[rank])
                # bf16-representable coefficients: the bf16 output gradients are then exact
                coeff = torch.randn(*ids.shape, WIDTH, generator=torch.Generator().manual_seed(10 + r))
                coeff = coeff.bfloat16().float()
                ref = nn.Embedding(ROWS, WIDTH, padding_idx=PADDING)
                with torch.no_grad():
                    ref.weight.copy_(weight)
                expected = ref(ids)
                ((expected * coeff).sum() / world).backward()  # the mean of the workers' losses

                holder = _Holder(nn.Embedding(ROWS, WIDTH, padding_idx=PADDING))
                with torch.no_grad():
                    holder.embed.weight.copy_(weight)
                (param,) = shard_input_embeddings(holder, mesh, torch.device("cpu"), dtype)
                output = holder.embed(ids[mine])
                (output.float() * coeff[mine]).sum().backward()
                grad = param.grad
                got.append({
                    "round": r, "dtype": str(dtype), "class": type(holder.embed) is VocabParallelEmbedding,
                    "placements": param.placements == (Shard(0),) and isinstance(grad, DTensor)
                    and grad.placements == (Shard(0),),
                    "local_rows": param.to_local().shape[0], "output_dtype": output.dtype,
                    "output_shape": tuple(output.shape) == (sizes[rank], 4, WIDTH),
                    "output_equal": torch.equal(output, expected[mine].detach().to(dtype or torch.float32)),
                    "grad_gap": float((grad.to_local() - ref.weight.grad[lo:hi]).abs().max()),
                    "padding_grad": float(ref.weight.grad[PADDING].abs().max()) + (
                        float(grad.to_local()[PADDING - lo].abs().max()) if lo <= PADDING < hi else 0.0),
                    "padding_in_batch": bool((ids == PADDING).any()),
                })
        holder = _Holder(nn.Embedding(ROWS, WIDTH))
        shard_input_embeddings(holder, mesh, torch.device("cpu"))
        try:  # an id past the vocabulary on rank 1 only: both workers raise, neither waits for the other
            holder.embed(torch.tensor([[ROWS if rank == 1 else 0]]))
            raised = False
        except IndexError:
            raised = True
        dist.barrier()
        torch.save({"rounds": got, "raised": raised}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned gloo workers (~10 s on 2 cores)
def test_the_lookup_equals_a_plain_embedding_on_the_whole_batch(tmp_path):
    import torch.multiprocessing as mp

    out = str(tmp_path / "lookup")
    mp.spawn(_lookup_worker, args=(2, _free_port(), out), nprocs=2)
    for rank, local_rows in ((0, 6), (1, 5)):  # ceil(11 / 2) rows on rank 0, the rest on rank 1
        seen = torch.load(f"{out}.{rank}")
        assert seen["raised"], rank
        assert len(seen["rounds"]) == 2 * len(ROUNDS)
        for r in seen["rounds"]:
            where = (rank, r["round"], r["dtype"])
            assert r["class"] and r["placements"] and r["output_shape"], where
            assert r["local_rows"] == local_rows, where
            assert r["output_dtype"] == (torch.bfloat16 if r["dtype"] == "torch.bfloat16" else torch.float32), where
            assert r["output_equal"], where
            assert r["grad_gap"] <= 1e-6, (where, r["grad_gap"])
            assert r["padding_in_batch"] and r["padding_grad"] == 0.0, where


# ------------------------------------------------------------------------------------------ an encoder
VOCAB, HIDDEN = 4099, 16  # the word embeddings (262 kB in fp32) outweigh every other tensor of a step


def _tiny(kind: str) -> nn.Module:
    import transformers

    torch.manual_seed(0)
    if kind == "xlmr":
        config = transformers.XLMRobertaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=2,
                                               num_attention_heads=2, intermediate_size=32, max_position_embeddings=40,
                                               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        return transformers.XLMRobertaModel(config, add_pooling_layer=False)
    config = transformers.MT5Config(vocab_size=VOCAB, d_model=HIDDEN, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
                                    dropout_rate=0.0, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return transformers.MT5EncoderModel(config)


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (5, 7), generator=g)
    ids[0, 0], ids[1, 0] = 5, VOCAB - 2  # both halves
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    ids[1, 5:] = 1
    return ids, mask, torch.randn(5, 7, HIDDEN, generator=g)


def _largest_allocation(prof) -> int:
    return max((e.nbytes() for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"), default=0)


def _encoder_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist
    from torch.distributed.tensor import DTensor
    from torch.profiler import ProfilerActivity, profile

    from study.distributed import FullySharded, shard_bounds
    from study.vocab_parallel import VocabParallelEmbedding

    _join(rank, world, port)
    try:
        seen = {}
        for kind in ("xlmr", "mt5"):
            ref, model = _tiny(kind), _tiny(kind)
            FullySharded(torch.device("cpu"), "fp32").place(model)
            embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding) and m.weight.shape[0] == VOCAB]
            weight = model.get_input_embeddings().weight
            ids, mask, coeff = _batch(seed=1)
            lo, hi = shard_bounds(len(ids), rank, world)  # 3 rows on rank 0, 2 on rank 1

            expected = ref(input_ids=ids, attention_mask=mask).last_hidden_state
            ((expected * coeff).sum() / world).backward()
            hidden = model(input_ids=ids[lo:hi], attention_mask=mask[lo:hi]).last_hidden_state
            (hidden * coeff[lo:hi]).sum().backward()
            ref_grads = dict(ref.named_parameters())
            # Relative to each gradient's largest entry (at least 1: a key bias's gradient is 0 up to rounding),
            # as float sums over other batch shapes, in another order, differ.
            grad_gap = {n: float((p.grad.full_tensor() - ref_grads[n].grad).abs().max()
                                 / ref_grads[n].grad.abs().max().clamp(min=1.0)) for n, p in model.named_parameters()}

            # A training step as Phase.run takes it, profiled: no allocation the whole matrix's size.
            params = list(model.parameters())
            optimizer = torch.optim.AdamW(params, lr=1e-3)
            optimizer.zero_grad(set_to_none=True)
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                ids, mask, coeff = _batch(seed=2)
                loss = (model(input_ids=ids[lo:hi], attention_mask=mask[lo:hi]).last_hidden_state * coeff[lo:hi]).sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
            seen[kind] = {
                "tied": len(embeddings) == (2 if kind == "mt5" else 1) and all(m.weight is weight for m in embeddings),
                "vocab_parallel": all(type(m) is VocabParallelEmbedding for m in embeddings),
                "dtensor": isinstance(weight, DTensor), "local_rows": weight.to_local().shape[0],
                "output_gap": float((hidden - expected[lo:hi]).detach().abs().max()), "grad_gap": grad_gap,
                "largest_allocation": _largest_allocation(prof), "matrix_bytes": VOCAB * HIDDEN * 4,
            }
        dist.barrier()
        torch.save(seen, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned gloo workers import transformers (~20 s on 2 cores)
def test_a_sharded_encoder_never_holds_its_whole_word_embeddings(tmp_path):
    import torch.multiprocessing as mp

    out = str(tmp_path / "encoder")
    mp.spawn(_encoder_worker, args=(2, _free_port(), out), nprocs=2)
    for rank, local_rows in ((0, 2050), (1, 2049)):
        for kind, s in torch.load(f"{out}.{rank}").items():
            where = (kind, rank, s)
            assert s["tied"] and s["vocab_parallel"] and s["dtensor"], where
            assert s["local_rows"] == local_rows, where
            assert s["output_gap"] < 1e-5 and max(s["grad_gap"].values()) < 1e-5, where
            assert 0 < s["largest_allocation"] < s["matrix_bytes"], where


def test_input_embeddings_are_found_tied_and_refused_where_the_lookup_would_differ():
    """No process group needed: which modules become vocabulary-parallel."""
    import transformers

    from study.vocab_parallel import input_embeddings, shard_rows

    mt5 = _tiny("mt5")
    assert input_embeddings(mt5) == [mt5.shared, mt5.encoder.embed_tokens]
    xlmr = _tiny("xlmr")
    assert input_embeddings(xlmr) == [xlmr.embeddings.word_embeddings]
    # The output projection tied to the embeddings: left to FSDP.
    mlm = transformers.BertForMaskedLM(transformers.BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                                                               num_attention_heads=2, intermediate_size=8))
    assert input_embeddings(mlm) == []

    class Scaled(nn.Embedding):
        def forward(self, ids):
            return super().forward(ids) * 2.0

    assert input_embeddings(_Holder(Scaled(10, 4))) == []
    assert input_embeddings(_Holder(nn.Embedding(10, 4, max_norm=1.0))) == []
    assert input_embeddings(nn.Linear(2, 2)) == []
    # FSDP2's Shard(0): chunks of ceil(rows / world), the last ranks with fewer or none.
    assert [shard_rows(10, r, 4) for r in range(4)] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert [shard_rows(5, r, 4) for r in range(4)] == [(0, 2), (2, 4), (4, 5), (5, 5)]
