"""Vocabulary-parallel input embeddings under data parallelism, for FSDP trials (`study.distributed.FullySharded`).

A multilingual encoder's word embeddings are most of its parameters (multilingual-e5-small: 96M of 118M, a
250k x 384 matrix of 384 MB in fp32). Left to FSDP they sit in the root unit, which every worker all-gathers
whole at each forward and whose whole gradient it holds until the reduce-scatter: two copies of the matrix
per worker per step. Here the matrix is never gathered. It stays a DTensor sharded by vocabulary rows
(`Shard(0)` on FSDP's 1-D mesh, chunks of ceil(rows / world) as FSDP2's own `Shard(0)`: rank r owns rows
[r*c, min((r+1)*c, rows))), excluded from FSDP (`fully_shard(..., ignored_params=...)`), and looked up where it
lies:

- **forward**: each worker has its own batch of ids (sizes differ between workers; a worker may have none).
  The workers exchange their sizes, all-gather every worker's ids (padded to the longest), and each looks
  up the rows it owns (zeros elsewhere), cast to the compute dtype (FSDP's `param_dtype`, bf16 with mixed
  precision). A reduce-scatter then hands each worker the sum over workers of its own ids' rows: exactly
  one worker contributed each row, so the sum is the row itself, bit for bit.
- **backward**: the workers all-gather their output gradients, and each adds the gradients of the ids it owns
  into its own rows (none into `padding_idx`, as nn.Embedding), divided by the workers: the average over
  workers that FSDP's reduce-scatter and DDP give every other parameter.

What crosses the wire per step is ids and (tokens x hidden) activations, not the (vocabulary x hidden)
matrix: for e5-small with 4 x 64 tokens per worker, 2 x 256 ids and 2 x 256 x 384 floats, against 384 MB.
Every optimizer and checkpoint path sees an ordinary DTensor parameter with the placements FSDP gives
the others, on the same mesh: clip_grad_norm_, AdamW, torch.distributed.checkpoint and the full-state
helpers work on it unchanged.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


def shard_rows(rows: int, rank: int, world: int) -> tuple[int, int]:
    """The rows [lo, hi) that `rank` owns under `Shard(0)`: chunks of ceil(rows / world), as torch.chunk and
    FSDP2 cut them (the last ranks may own fewer, or none)."""
    chunk = -(-rows // world)
    return min(rank * chunk, rows), min((rank + 1) * chunk, rows)


def _all_gather(local: torch.Tensor, group) -> torch.Tensor:
    """Every worker's `local` (all of the same shape), concatenated on dim 0 in rank order."""
    world = dist.get_world_size(group)
    out = local.new_empty((world * local.shape[0], *local.shape[1:]))
    gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    gather(out, local.contiguous(), group=group)
    return out


def _reduce_scatter(parts: torch.Tensor, group) -> torch.Tensor:
    """The sum over workers of their `parts`, this worker's 1/world of it (dim 0)."""
    world = dist.get_world_size(group)
    out = parts.new_empty((parts.shape[0] // world, *parts.shape[1:]))
    scatter = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
    scatter(out, parts.contiguous(), op=dist.ReduceOp.SUM, group=group)
    return out


class _Lookup(torch.autograd.Function):
    """Rows of a vocabulary-sharded matrix for this worker's ids; see the module docstring."""

    @staticmethod
    def forward(ctx, local, ids, lo, rows, padding_idx, dtype, group):
        world = dist.get_world_size(group)
        flat = ids.reshape(-1)
        n = flat.numel()
        sizes = _all_gather(flat.new_tensor([n]), group)
        longest = max(1, int(sizes.max()))  # one padded id at least: every worker joins with the same shapes
        padded = flat.new_full((longest,), -1)
        padded[:n] = flat
        every = _all_gather(padded, group)  # (world * longest,): worker r's ids at [r*longest, r*longest + size_r)
        valid = (torch.arange(longest, device=every.device)[None, :] < sizes[:, None].to(every.device)).reshape(-1)
        asked = every[valid]
        # Every worker sees every id, so all raise together (one raising alone would leave the others waiting).
        if asked.numel() and (int(asked.min()) < 0 or int(asked.max()) >= rows):
            raise IndexError(f"an id outside the vocabulary of {rows} rows "
                             f"(min {int(asked.min())}, max {int(asked.max())})")
        mine = valid & (every >= lo) & (every < lo + local.shape[0])
        index = (every - lo)[mine]
        found = local.new_zeros((world * longest, local.shape[1]), dtype=dtype)
        found[mine] = local[index].to(dtype)
        out = _reduce_scatter(found, group)[:n]
        keep = mine if padding_idx is None else mine & (every != padding_idx)  # no gradient to the padding row
        ctx.save_for_backward(every[keep] - lo)
        ctx.keep = keep
        ctx.shapes = (n, longest, local.shape, local.dtype, world)
        ctx.group = group
        return out.reshape(*ids.shape, local.shape[1])

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        n, longest, shape, dtype, world = ctx.shapes
        padded = grad.new_zeros((longest, shape[1]))
        padded[:n] = grad.reshape(n, shape[1])
        every = _all_gather(padded, ctx.group)  # (world * longest, width): every worker's output gradients
        local = torch.zeros(shape, dtype=dtype, device=grad.device)
        local.index_add_(0, index, every[ctx.keep].to(dtype))
        local.div_(world)  # averaged over the workers, as FSDP's reduce-scatter averages every other gradient
        return local, None, None, None, None, None, None


class VocabParallelEmbedding(nn.Embedding):
    """An nn.Embedding whose weight is a DTensor sharded by rows (`Shard(0)`) over a 1-D mesh, looked up without
    gathering it (`_Lookup`). Made in place from an nn.Embedding by `shard_input_embeddings`, so parameter
    names and state dicts are those of the model; `compute_dtype` is FSDP's `param_dtype` (None: the weight's)."""

    compute_dtype: torch.dtype | None = None

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        mesh = weight.device_mesh
        lo, _ = shard_rows(weight.shape[0], mesh.get_local_rank(), mesh.size())
        local = weight.to_local()  # differentiable: the gradient comes back as a DTensor with the same placements
        return _Lookup.apply(local, input, lo, weight.shape[0], self.padding_idx, self.compute_dtype or local.dtype,
                             mesh.get_group())


def input_embeddings(module: nn.Module) -> list[nn.Embedding]:
    """The plain nn.Embedding modules that hold the model's input embeddings (`get_input_embeddings()`): that
    module and every other one tied to its weight (mT5's `shared` and `encoder.embed_tokens`). Empty when the
    model has none, when its embedding is a subclass (whose forward may scale or otherwise differ), uses an
    option the lookup does not implement (max_norm, scale_grad_by_freq, sparse), or when the weight is also
    held by another kind of module (a tied output projection): FSDP then shards it as before."""
    get = getattr(module, "get_input_embeddings", None)
    try:
        first = get() if get is not None else None
    except NotImplementedError:
        return []
    if type(first) is not nn.Embedding or first.max_norm is not None or first.scale_grad_by_freq or first.sparse:
        return []
    holders = [(sub, name) for sub in module.modules() for name, p in sub.named_parameters(recurse=False)
               if p is first.weight]
    if any(type(sub) is not nn.Embedding or name != "weight" for sub, name in holders):
        return []
    return [sub for sub, _ in holders]


def shard_input_embeddings(module: nn.Module, mesh, device: torch.device,
                           compute_dtype: torch.dtype | None = None) -> set[nn.Parameter]:
    """Makes the module's input embeddings (`input_embeddings`) vocabulary-parallel over `mesh`, in place,
    before FSDP shards the rest; returns the parameters FSDP must leave alone (`ignored_params`).

    A weight on the meta device (a skeleton, filled later by the caller) becomes a meta DTensor of this
    worker's rows; a real one keeps only this worker's rows, copied onto `device`, so the whole matrix is freed
    once nothing else holds it. Tied modules get the one new parameter and stay tied. Nothing changes with
    a mesh of one worker (no collective to save) or a model without plain input embeddings."""
    from torch.distributed.tensor import DTensor, Shard

    embeddings = input_embeddings(module)
    if mesh.size() == 1 or not embeddings:
        return set()
    weight = embeddings[0].weight
    lo, hi = shard_rows(weight.shape[0], mesh.get_local_rank(), mesh.size())
    if weight.device.type == "meta":
        local = torch.empty((hi - lo, *weight.shape[1:]), dtype=weight.dtype, device="meta")
    else:
        local = weight.detach()[lo:hi].to(device, copy=True)
    stride = torch.empty(weight.shape, device="meta").stride()
    sharded = nn.Parameter(DTensor.from_local(local, mesh, (Shard(0),), run_check=False, shape=weight.shape,
                                              stride=stride), requires_grad=weight.requires_grad)
    for embedding in embeddings:
        embedding.weight = sharded
        embedding.__class__ = VocabParallelEmbedding
        embedding.compute_dtype = compute_dtype
    return {sharded}
