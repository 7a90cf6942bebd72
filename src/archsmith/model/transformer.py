"""The decoder-only language model built from an ArchConfig, and ``build_model``.

Parameter names are fixed (HF weight conversion is written against them; hf/weights.py splits
the fused projections into HF's separate tensors and joins them back):

    embed_tokens.weight, embed_positions.weight (learned), embed_norm.* (embedding_norm)
    project_in.weight, project_out.weight (word_embed_proj_dim: OPT-350m's embedding projections)
    layers.{i}.attn.{qkv,o}_proj.{weight,bias}, layers.{i}.attn.{q,k}_norm.*  (qkv_proj: q, k, v fused, see attention.py)
    MLA: layers.{i}.attn.{q_proj | q_a_proj, q_a_layernorm, q_b_proj}, layers.{i}.attn.{kv_a_proj_with_mqa,
         kv_a_layernorm, kv_b_proj, o_proj}.*  (see mla.py)
    layers.{i}.{attn_norm, mlp_norm, attn_out_norm, mlp_out_norm}.*  (see block.py)
    layers.{i}.mlp.{gate_up | up, down}_proj.{weight,bias}               (dense layers; gate_up: fused, see ffn.py)
    layers.{i}.mlp.router.weight [experts, hidden], .e_score_correction_bias (buffer)   (sparse layers, moe.py)
    layers.{i}.mlp.experts.{gate_up_proj [experts, 2 x moe_intermediate, hidden] | up_proj, down_proj}
    layers.{i}.mlp.shared_experts.{gate_up | up, down}_proj.weight, layers.{i}.mlp.shared_expert_gate.weight
    norm.* (final_norm), lm_head.weight (the embedding Parameter itself when tied), lm_head.bias
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..config import ArchConfig
from ..dtypes import canonical_dtype, torch_dtype_name
from ..errors import ConfigError, InputError, UnsupportedError
from .block import Block
from .cache import KVCache, Keys
from .generation import generate
from .init import normal_
from .masks import AttentionMask, build_mask, check_kernel, flex_runs, step_mask
from .moe import Experts, Router, load_balancing_loss
from .norms import Norm
from .positions import RotaryEmbedding, alibi_slopes

IGNORE_INDEX = -100


class LMOutput(NamedTuple):
    """What ``model(input_ids, labels=labels)`` returns.

    ``loss``: scalar mean cross entropy of predicting ``labels[:, t + 1]`` from the logits at
    ``t`` (the shift happens inside; labels equal to -100 are ignored), computed in float32,
    plus ``router_aux_loss_coef * aux_loss`` when the config has ``output_router_logits``.
    ``logits``: [batch, seq, vocab] in the model's dtype.
    ``aux_loss``: the Mixture-of-Experts load-balancing loss (unweighted), when configured; else None.

    A training loop needs only ``model(x, labels=x).loss.backward()``.
    """

    loss: torch.Tensor
    logits: torch.Tensor
    aux_loss: torch.Tensor | None = None


class TokenPositions(NamedTuple):
    """The positions of one call's tokens.

    ``ids`` [batch or 1, seq]; ``next`` [batch]: where each row goes on (for the cache);
    ``seq_len``: one more than the largest position (what the RoPE and learned tables need): on
    the host, or on the device (a tensor, no sync) where a static cache's decode step keeps every
    position inside the table, or None where no table needs it; ``counting``: the positions are
    just past, past + 1, ... (no padding, no position_ids).
    """

    ids: torch.Tensor
    next: torch.Tensor
    seq_len: int | torch.Tensor | None
    counting: bool


# Cross entropy runs over chunks of at most this many logits (256 MiB in float32): the float32
# copy of the logits and its log-softmax (512 MiB together) exist for one chunk at a time, never
# for the whole batch.
LOSS_CHUNK = 2**26


def next_token_loss(logits: torch.Tensor, labels: torch.Tensor, chunk: int = LOSS_CHUNK) -> torch.Tensor:
    """Mean cross entropy, in float32, of each position's logits against the next label (-100 ignored).

    The labels are shifted, not the logits (as HF does): slicing the logits would copy them.
    The float32 log-softmax is never whole: :class:`_ChunkedCrossEntropy` takes ``chunk``
    logits at a time and writes each chunk's gradient as it goes, so the backward pass
    neither recomputes the softmax nor assembles chunk gradients. Vocabulary-split logits
    (DTensors under tensor parallelism's ``loss_parallel``) and float16 logits go through
    torch's own cross entropy, chunk by chunk, checkpointed.
    """
    targets = _next_token_targets(labels)
    logits = logits.reshape(-1, logits.shape[-1])
    rows = max(1, chunk // logits.shape[-1])
    # torch's cross entropy, chunk by chunk and recomputed in the backward pass, for vocabulary-split
    # DTensors (what loss_parallel knows how to split) and for float16, whose narrow range would flush
    # a stored softmax's small probabilities (below 6e-5) before a loss scaler's large scale reaches them.
    if _is_dtensor(logits) or logits.dtype == torch.float16:
        total = 0.0
        for part, part_targets in zip(logits.split(rows), targets.split(rows)):
            total = total + checkpoint(_summed_cross_entropy, part, part_targets, use_reentrant=False)
    else:
        total = _ChunkedCrossEntropy.apply(logits, targets, rows)
    return total / (targets != IGNORE_INDEX).sum()  # no host sync; nan when every label is ignored, as F.cross_entropy


def _next_token_targets(labels: torch.Tensor) -> torch.Tensor:
    """Each position's target, the next label (the last position's ignored), flat, int64 as cross entropy takes."""
    return F.pad(labels[:, 1:].long(), (0, 1), value=IGNORE_INDEX).reshape(-1)


def _loss_dtype(logits: torch.Tensor) -> torch.dtype:
    """float32, or float64 for float64 logits."""
    return torch.promote_types(logits.dtype, torch.float32)


def _is_dtensor(t: torch.Tensor) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(t, DTensor)


def _summed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), targets, ignore_index=IGNORE_INDEX, reduction="sum")


class _ChunkedCrossEntropy(torch.autograd.Function):
    """Summed cross entropy of ``logits`` [rows, vocab] against ``targets`` [rows], ``rows_per_chunk``
    rows at a time in float32 (float64 logits in float64). The gradient, softmax minus the one-hot
    target, is known as soon as a chunk's log-softmax is: it is written then, in the logits' dtype,
    into one logits-shaped buffer, and the backward pass only scales it (1/N, times any loss scale),
    by zero on ignored rows. Each entry is rounded as it is written, the softmax and then the target's
    p - 1 over it from float32 (p rounded to bf16 first would make the target's gradient 0 wherever
    p > 0.998), and once more by the scale unless that is a power of two. The float32 temporaries (a
    chunk's copy and its log-softmax) live one chunk at a time (on an H200 at 16k tokens x 128k
    vocabulary the peak was 7.8 GiB, where torch's cross entropy of the float32 logits took 23.5 GiB)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, rows_per_chunk: int) -> torch.Tensor:
        grad = torch.empty_like(logits) if logits.requires_grad else None
        compute = _loss_dtype(logits)
        total = logits.new_zeros((), dtype=compute)
        keep = (targets != IGNORE_INDEX)[:, None]
        for start in range(0, logits.shape[0], rows_per_chunk):
            rows = slice(start, start + rows_per_chunk)
            target = targets[rows].clamp_min(0)[:, None]  # any real index for ignored rows; keep drops them
            log_probs = F.log_softmax(logits[rows], dim=-1, dtype=compute)
            target_log_probs = log_probs.gather(1, target)
            # where, not a product: an ignored row's -inf logit must not make the sum NaN
            total -= torch.where(keep[rows], target_log_probs, 0.0).sum()
            if grad is not None:
                chunk_grad = torch.exp(log_probs, out=grad[rows])
                chunk_grad.scatter_(1, target, (target_log_probs.exp() - 1.0).to(grad.dtype))
        ctx.save_for_backward(grad, keep)
        return total

    @staticmethod
    def backward(ctx, grad_total: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        grad, keep = ctx.saved_tensors
        # the float32 scale multiplies in float32 and rounds once into the logits' dtype
        return torch.mul(grad, keep * grad_total, out=torch.empty_like(grad)), None, None


def fused_next_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """:func:`next_token_loss` written whole, for ``torch.compile`` (``Transformer.compile_blocks``):
    the compiler fuses the float32 cast, log-softmax and gradient into a few passes over the logits
    and never stores a float32 copy (on an H200, 8.1 ms forward and backward at 16k tokens x 128k
    vocabulary, where torch's eager cross entropy took 29.8 ms and the eager chunked loss 27.8 ms in a
    variant that did not yet write the target's p - 1 separately)."""
    flat = logits.reshape(-1, logits.shape[-1]).to(_loss_dtype(logits))
    return F.cross_entropy(flat, _next_token_targets(labels), ignore_index=IGNORE_INDEX)


class Transformer(nn.Module):
    """A decoder-only transformer LM; ``model.config`` is its ArchConfig.

    ``model(input_ids)`` returns logits [batch, seq, vocab]; ``model(input_ids, labels=ids)``
    returns :class:`LMOutput` ``(loss, logits)``. Optional ``attention_mask`` [batch, seq]
    (1 = token, 0 = padding) and ``position_ids`` [batch or 1, seq]; without position_ids
    positions count real tokens (``cumsum(mask) - 1``, as HF does for left padding).

    Build it with :func:`build_model`; :meth:`init_weights` re-initialises (also after
    ``to_empty`` on a meta-device model).
    """

    # The loss that compile_blocks() compiled (None: the eager chunked loss).
    compiled_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        self.config = cfg
        h = cfg.hidden_size
        e = cfg.word_embed_proj_dim or h
        self.embed_tokens = nn.Embedding(cfg.vocab_size, e)
        # OPT-350m: a narrower token embedding, projected into the stream and back out for the LM head
        self.project_in = nn.Linear(e, h, bias=False) if cfg.word_embed_proj_dim else None
        self.project_out = nn.Linear(h, e, bias=False) if cfg.word_embed_proj_dim else None
        if cfg.position_embedding == "learned":
            self.embed_positions = nn.Embedding(cfg.max_position_embeddings + cfg.position_offset, h)
        if cfg.embedding_norm:
            self.embed_norm = Norm(h, cfg)
        self.embed_drop = nn.Dropout(cfg.embedding_dropout)
        # One RoPE table per kind of layer that rotates: "full", and "sliding" when the sliding
        # layers have their own base (Gemma 3); NoPE layers (nope_layers) get none.
        self.layer_sliding = [cfg.layer_is_sliding(i) for i in range(cfg.num_hidden_layers)]
        self.layer_rope = [
            None if not cfg.layer_has_rope(i) else "sliding" if sliding and cfg.sliding_rope_theta is not None else "full"
            for i, sliding in enumerate(self.layer_sliding)
        ]
        self.rotary = nn.ModuleDict(
            {kind: RotaryEmbedding(cfg, sliding=kind == "sliding") for kind in sorted(set(self.layer_rope) - {None})}
        )
        # A plain bool, read when tracing: torch.compile (2.11) cannot trace bool() of a ModuleDict.
        self.has_position_table = len(self.rotary) > 0 or cfg.position_embedding == "learned"
        # ALiBi slopes: a plain float32 attribute, not a buffer, so neither model.to(bf16) nor a
        # meta-device build can touch them (made on the CPU, they follow the input's device, see _mask).
        self.alibi_slopes = alibi_slopes(cfg.num_attention_heads, device="cpu") if cfg.position_embedding == "alibi" else None
        # Every head width attention runs at (MLA's absorbed decoding attends over its latents):
        # FlexAttention's kernels take only some (masks.flex_runs).
        self.attention_head_dims = (cfg.head_dim, cfg.value_head_dim)
        if cfg.is_mla:
            self.attention_head_dims += (cfg.kv_lora_rank + cfg.qk_rope_head_dim, cfg.kv_lora_rank)
        self.attention_kernel = "auto"
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_hidden_layers))
        self.norm = Norm(h, cfg) if cfg.final_norm else None
        self.lm_head = nn.Linear(e, cfg.vocab_size, bias=cfg.lm_head_bias)
        self.init_weights()

    def __getstate__(self) -> dict:
        # A compiled function does not pickle; nn.Module drops the blocks' compiled forwards alike.
        state = super().__getstate__()
        state.pop("compiled_loss", None)
        return state

    @property
    def attention_kernel(self) -> str:
        """Which kernel masked attention runs on: ``"auto"`` (FlexAttention on CUDA where a mask
        is needed, SDPA's causal path where none is, dense masks elsewhere), ``"dense"`` (the
        reference masks everywhere) or ``"flex"`` (FlexAttention wherever a mask is needed; on CPU
        uncompiled and only without autograd, for which torch has no CPU backward). Attention
        dropout always takes the dense path. See model/masks.py."""
        return self._attention_kernel

    @attention_kernel.setter
    def attention_kernel(self, kernel: str) -> None:
        self._attention_kernel = check_kernel(kernel)

    # --- weights ---------------------------------------------------------------------------

    def tie_weights(self) -> None:
        """Make ``lm_head.weight`` the embedding Parameter itself (when tied)."""
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    @torch.no_grad()
    def init_weights(self) -> None:
        """Initialise every parameter and recompute the RoPE tables.

        Linear and embedding weights ~ N(0, initializer_range); the projections that write
        into the residual stream (o_proj, down_proj) use initializer_range / sqrt(2 *
        num_hidden_layers), the GPT-2 / nanoGPT rule that keeps the residual stream's
        variance from growing with depth (each layer adds two such branches). Biases 0,
        norms at identity. Works after ``model.to_empty(device=...)`` on a meta model
        (which also re-ties the LM head, since ``to_empty`` replaces tied Parameters).
        """
        self.tie_weights()
        std = self.config.initializer_range
        residual_std = std / math.sqrt(2 * self.config.num_hidden_layers)
        for name, module in self.named_modules():
            if isinstance(module, Router):
                module.reset_parameters(std)
            elif isinstance(module, Experts):
                module.reset_parameters(std, residual_std)
            elif isinstance(module, nn.Linear):
                if name == "lm_head" and self.config.tie_word_embeddings:
                    pass  # the embedding initialises it
                else:
                    normal_(module.weight, residual_std if name.endswith(("o_proj", "down_proj")) else std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                normal_(module.weight, std)
            elif isinstance(module, Norm):
                module.reset_parameters()
            elif isinstance(module, RotaryEmbedding):
                module.reset_tables()

    def compile_blocks(self, **options) -> Transformer:
        """Regional compilation: ``torch.compile`` each block on its own (``options`` go to it),
        and return the model.

        Every block runs the same code, so torch.compile traces and optimises it once per kind
        of block (full or sliding attention, dense or MoE) and reuses that for the others:
        compile time stays flat in depth, where compiling the whole model traces every layer.
        The loss is compiled whole (:func:`fused_next_token_loss`; not on vocabulary-split
        logits); the embedding and masks stay eager (pass ``check_inputs=False`` to the forward
        to drop its one host sync). Parameter names, and so checkpoints, are unchanged.
        """
        for block in self.layers:
            block.compile(**options)
        self.compiled_loss = torch.compile(fused_next_token_loss, **options)
        return self

    # --- forward ---------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        cache: KVCache | None = None,
        check_inputs: bool = True,
    ) -> torch.Tensor | LMOutput:
        """Logits [batch, seq, vocab]; with ``labels``, :class:`LMOutput` ``(loss, logits)``.

        ``cache``: a :class:`KVCache` this call extends (incremental decoding); the
        ``attention_mask`` then covers only this call's tokens. ``check_inputs=False`` skips
        reading the token ids', labels' and positions' value ranges back to the host (the one
        sync of a plain forward, which stalls a GPU pipeline): for training and benchmark loops
        whose inputs are known good. An out-of-range id then fails inside torch (on CUDA, as a
        device-side assert) instead of as an InputError.
        """
        if not torch.compiler.is_compiling():  # data-dependent checks would break the graph
            self._check_inputs(input_ids, attention_mask, position_ids, labels, check_inputs)
        cfg = self.config
        router_logits = [] if labels is not None and cfg.output_router_logits else None
        logits = self.logits(self._hidden_states(input_ids, attention_mask, position_ids, cache, router_logits))
        if labels is None:
            return logits
        if self.compiled_loss is not None and not _is_dtensor(logits):
            loss = self.compiled_loss(logits, labels)
        else:
            loss = next_token_loss(logits, labels, LOSS_CHUNK)
        if router_logits is None:
            return LMOutput(loss, logits)
        aux_loss = load_balancing_loss(router_logits, cfg.num_experts_per_tok, attention_mask)
        return LMOutput(loss + cfg.router_aux_loss_coef * aux_loss, logits, aux_loss)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """LM head on final hidden states, then logit_scale (Cohere, Granite) and Gemma-2 style
        final softcapping when configured."""
        logits = self.lm_head(hidden)
        if self.config.logit_scale != 1.0:
            logits = logits * self.config.logit_scale
        cap = self.config.final_logit_softcapping
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return logits

    def hidden_states(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
        check_inputs: bool = True,
    ) -> torch.Tensor:
        """Final hidden states [batch, seq, hidden] (after the final norm), the LM head's input
        (after project_out, [batch, seq, word_embed_proj_dim], with OPT's projections).
        ``check_inputs``: as in :meth:`forward`."""
        if not torch.compiler.is_compiling():
            self._check_inputs(input_ids, attention_mask, position_ids, check_values=check_inputs)
        return self._hidden_states(input_ids, attention_mask, position_ids, cache)

    def _hidden_states(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        cache: KVCache | None,
        router_logits: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        cfg = self.config
        batch, seq = input_ids.shape
        decoding = cache is not None and self._begin(cache, batch, seq, input_ids.device)
        valid = self._validity(attention_mask, cache, decoding)
        pos = self._positions(batch, seq, valid, position_ids, cache, decoding, input_ids.device)

        x = self._embed(input_ids, pos)
        ropes = {None: None, **{kind: rotary(pos.ids, pos.seq_len) for kind, rotary in self.rotary.items()}}
        if cache is None:
            keys = {sliding: Keys(valid, pos.ids, seq) for sliding in set(self.layer_sliding)}
        else:
            keys = cache.record(valid, pos.ids)
        dropout = cfg.attention_dropout if self.training else 0.0
        flex = flex_runs(self.attention_kernel, input_ids.device, self.attention_head_dims, dropout)
        # A decode step's block mask only in generate(compile=True)'s own step (see KVCache.compiled_step).
        masks = {
            sliding: self._mask(seq, k, sliding, pos.ids, x.dtype, flex and (not k.step or cache.compiled_step))
            for sliding, k in keys.items()
        }
        for layer, sliding, rope in zip(self.layers, self.layer_sliding, self.layer_rope):
            x = layer(x, ropes[rope], masks[sliding], cache, router_logits)
        if cache is not None:
            cache.advance(seq, pos.next, pos.counting)

        if self.norm is not None:
            x = self.norm(x)
        return x if self.project_out is None else self.project_out(x)

    def _begin(self, cache: KVCache, batch: int, seq: int, device: torch.device) -> bool:
        """Check that ``cache`` was made for this model; whether this call is a one-token decode step."""
        if not torch.compiler.is_compiling() and (not isinstance(cache, KVCache) or cache.config != self.config):
            raise InputError(
                f"cache must be a KVCache made for this model's config, got a {type(cache).__name__} that is not; "
                "fix: pass cache=KVCache(model.config, max_len) (or let generate() make it)"
            )
        return cache.begin(batch, seq, device)

    def _validity(self, attention_mask: torch.Tensor | None, cache: KVCache | None, decoding: bool) -> torch.Tensor | None:
        """Which tokens are real [batch, seq]; None while there is no padding anywhere, which keeps
        SDPA's causal path (found by one host read, which a decode step does not spend)."""
        if attention_mask is None:
            return None
        valid = attention_mask.bool()
        if torch.compiler.is_compiling() or decoding or (cache is not None and cache.padded) or not bool(valid.all()):
            return valid
        return None

    def _positions(
        self,
        batch: int,
        seq: int,
        valid: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        cache: KVCache | None,
        decoding: bool,
        device: torch.device,
    ) -> TokenPositions:
        """Positions of this call's tokens; see :class:`TokenPositions`."""
        past = 0 if cache is None or decoding else cache.length  # a decode step reads no host count
        if position_ids is not None:
            ids = position_ids if position_ids.dim() == 2 else position_ids[None]
            return self._bounded(TokenPositions(ids, ids[:, -1].expand(batch) + 1, None, False), cache, decoding, True)
        if valid is None and (cache is None or (not decoding and cache.counting)):
            ids = torch.arange(past, past + seq, device=device)[None]
            return TokenPositions(ids, ids[:, -1].expand(batch) + 1, past + seq, True)
        start = torch.zeros(batch, dtype=torch.long, device=device) if cache is None else cache.next_position
        real = valid if valid is not None else torch.ones(batch, seq, dtype=torch.bool, device=device)
        counts = real.long().cumsum(dim=1)
        ids = (start[:, None] + counts - 1).masked_fill(~real, 0)
        counting = valid is None and cache is not None and cache.counting  # a decode step that goes on counting
        return self._bounded(TokenPositions(ids, start + counts[:, -1], None, counting), cache, decoding, False)

    def _bounded(self, pos: TokenPositions, cache: KVCache | None, decoding: bool, explicit: bool) -> TokenPositions:
        """``pos`` with ``seq_len`` on the device where a static cache's decode step bounds every
        position inside the position table; else unknown (None: a table reads it back only if it needs it)."""
        cfg = self.config
        if self.has_position_table and decoding and not explicit and cache.max_len <= cfg.max_position_embeddings:
            return pos._replace(seq_len=pos.ids.max() + 1)
        return pos

    def _embed(self, input_ids: torch.Tensor, pos: TokenPositions) -> torch.Tensor:
        """Token embeddings (scaled, projected, plus learned positions, normed as configured)."""
        cfg = self.config
        x = self.embed_tokens(input_ids)
        if cfg.scale_embeddings:  # Gemma rounds the scale to the activation dtype first
            x = x * torch.tensor(cfg.hidden_size**0.5, dtype=x.dtype)
        if cfg.embedding_multiplier != 1.0:  # Granite
            x = x * cfg.embedding_multiplier
        if self.project_in is not None:
            x = self.project_in(x)
        if cfg.position_embedding == "learned":
            if not torch.compiler.is_compiling() and not isinstance(pos.seq_len, torch.Tensor):  # a tensor: bounded
                # past the table the lookup would fail on the device: read the largest position
                longest = pos.seq_len if pos.seq_len is not None else int(pos.ids.max()) + 1
                if longest > cfg.max_position_embeddings:
                    raise InputError(
                        f"the input needs position {longest - 1}, but the learned position table has "
                        f"max_position_embeddings={cfg.max_position_embeddings} rows; fix: give at most "
                        f"{cfg.max_position_embeddings} tokens, or build with a larger max_position_embeddings"
                    )
            x = x + self.embed_positions(pos.ids + cfg.position_offset)
        if cfg.embedding_norm:
            x = self.embed_norm(x)
        return self.embed_drop(x)

    def _mask(
        self, seq: int, keys: Keys, sliding: bool, positions: torch.Tensor, dtype: torch.dtype, flex: bool
    ) -> AttentionMask:
        """The attention of one kind of layer (full or sliding) over ``keys`` for the queries at
        ``positions``; ``flex``: with FlexAttention's block masks (masks.flex_runs)."""
        cfg = self.config
        alibi_dim = cfg.head_dim if cfg.alibi_before_scale else None
        device = keys.positions.device
        if self.alibi_slopes is not None and self.alibi_slopes.device != device:
            # Moved once and kept there: a copy from host memory each step would sync the host
            # (and cannot be captured in a CUDA graph).
            self.alibi_slopes = self.alibi_slopes.to(device)
        if keys.step:
            return step_mask(keys.valid, keys.positions, positions, self.alibi_slopes, dtype, alibi_dim, flex)
        window = cfg.sliding_window if sliding else None
        return build_mask(
            seq, keys.length, window, keys.valid, keys.positions, self.alibi_slopes, dtype, device, alibi_dim,
            flex=flex, softcap=cfg.attn_logit_softcapping is not None,
        )  # fmt: skip

    def _check_inputs(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        labels: torch.Tensor | None = None,
        check_values: bool = True,
    ) -> None:
        """Dtype and shape checks (free: no device work), then, with ``check_values``, every value
        range in one sync."""
        _check_index_tensor("input_ids", input_ids, "token ids")
        if input_ids.dim() != 2 or input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
            raise InputError(
                f"input_ids must have shape [batch, seq] with batch >= 1 and seq >= 1, got {tuple(input_ids.shape)}; "
                "fix: add a batch dimension with input_ids[None], and give at least one token"
            )
        batch, seq = input_ids.shape
        if attention_mask is not None and (not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != input_ids.shape):
            got = tuple(attention_mask.shape) if isinstance(attention_mask, torch.Tensor) else type(attention_mask).__name__
            raise InputError(f"attention_mask has shape {got} but input_ids {tuple(input_ids.shape)}; fix: one 0/1 entry per token")
        if position_ids is not None:
            _check_index_tensor("position_ids", position_ids, "positions")
            shape = tuple(position_ids.shape)
            rows_ok = position_ids.dim() == 1 or (position_ids.dim() == 2 and position_ids.shape[0] in (1, batch))
            if not rows_ok or position_ids.shape[-1] != seq:
                raise InputError(f"position_ids have shape {shape} but input_ids {tuple(input_ids.shape)}; fix: [batch or 1, seq]")
        if labels is not None:
            _check_index_tensor("labels", labels, "target token ids (-100 to ignore one)")
            if labels.shape != input_ids.shape:
                raise InputError(f"labels have shape {tuple(labels.shape)} but input_ids {tuple(input_ids.shape)}; fix: give one label per token")
        if check_values:
            self._check_ranges(input_ids, position_ids, labels)

    def _check_ranges(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None, labels: torch.Tensor | None) -> None:
        """Token ids and labels (other than -100) in the vocabulary, positions non-negative:
        the min and max of each tensor are read back to the host together, in one sync."""
        vocab = self.config.vocab_size
        tensors = {"input_ids": input_ids}
        if position_ids is not None:
            tensors["position_ids"] = position_ids
        if labels is not None:  # ignored labels count as 0, which is always in range
            tensors["labels"] = labels.masked_fill(labels == IGNORE_INDEX, 0)
        extremes = torch.stack([torch.stack([t.min(), t.max()]).long() for t in tensors.values()]).tolist()
        bounds = dict(zip(tensors, extremes))
        low, high = bounds["input_ids"]
        if low < 0 or high >= vocab:
            raise InputError(
                f"input_ids contain token id {low if low < 0 else high}, outside the vocabulary of vocab_size={vocab} "
                f"(ids 0..{vocab - 1}); fix: re-tokenise with the model's tokenizer or build with a larger vocab_size"
            )
        if "position_ids" in bounds and bounds["position_ids"][0] < 0:
            raise InputError(f"position_ids contain {bounds['position_ids'][0]}; fix: positions count from 0")
        if "labels" in bounds:
            low, high = bounds["labels"]
            if low < 0 or high >= vocab:
                raise InputError(
                    f"labels contain {low if low < 0 else high}, outside the vocabulary of vocab_size={vocab}; "
                    f"fix: labels are token ids 0..{vocab - 1}, or {IGNORE_INDEX} for a position to ignore"
                )

    # --- generation ------------------------------------------------------------------------

    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        eos_token_id: int | Sequence[int] | None = None,
        attention_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        compile: bool = False,
    ) -> torch.Tensor:
        """The prompt followed by up to ``max_new_tokens`` new tokens, [batch, seq + new].

        ``temperature=0`` is greedy; otherwise sample after temperature, ``top_k`` and
        ``top_p`` filtering (HF's order). Generation stops once every row has produced an
        ``eos_token_id``; finished rows are padded with it. Batch prompts of different
        lengths by LEFT padding with an ``attention_mask``. Decodes with a static :class:`KVCache`
        under ``torch.no_grad``; call ``model.eval()`` first to disable dropout. ``compile=True``
        compiles the decode step once (a CUDA graph on GPU; the first call pays the compile time).
        """
        return generate(self, input_ids, max_new_tokens, temperature, top_k, top_p, eos_token_id, attention_mask, generator, compile)


# --- construction ----------------------------------------------------------------------------

_RUNNABLE_DTYPES = ("fp32", "bf16", "fp16", "fp64")  # what can hold trainable weights (dtypes.py names)


_INDEX_DTYPES = (torch.int64, torch.int32)  # what nn.Embedding and the loss take as indices


def _check_index_tensor(name: str, value: object, what: str) -> None:
    """``value`` is an int64/int32 tensor (embedding lookups and cross entropy take no other)."""
    if not isinstance(value, torch.Tensor) or value.dtype not in _INDEX_DTYPES:
        got = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
        raise InputError(f"{name} must be an integer tensor (int64 or int32) of {what}, got {got}; fix: pass {name}.long()")


def build_model(
    cfg: ArchConfig,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> Transformer:
    """A freshly initialised :class:`Transformer` for ``cfg`` on ``device`` (default cpu) in
    ``dtype`` (default float32; ``cfg.torch_dtype`` is informational only).

    ``device="meta"`` builds the structure without memory (for sizing or sharded loading);
    materialise it later with ``model.to_empty(device=...)`` and ``model.init_weights()``.
    Weights are created on the meta device first, so each one is allocated and
    initialised exactly once on the target device.
    """
    if not isinstance(cfg, ArchConfig):
        raise ConfigError(f"build_model needs an ArchConfig, got {type(cfg).__name__}; fix: ArchConfig(...) or load_config(...)")
    device = _resolve_device(device)
    dtype = _resolve_dtype(dtype)
    with torch.device("meta"):
        model = Transformer(cfg)
    model.to(dtype=dtype)
    if device.type != "meta":
        try:
            model.to_empty(device=device)
            model.init_weights()
        except (RuntimeError, MemoryError) as e:  # torch's allocator refused: say so with the size and a fix
            if not isinstance(e, MemoryError) and "alloc" not in str(e).lower() and "out of memory" not in str(e):
                raise
            params = sum(p.numel() for p in model.parameters())  # a tied head counts once, as in the checkpoint
            size = params * torch.finfo(dtype).bits // 8
            raise InputError(
                f"the {params:,} parameters of this config need {size / 2**30:,.1f} GiB in "
                f"{torch_dtype_name(canonical_dtype(dtype))}, more than {device} could allocate; fix: build it on "
                "device='meta' for sizing, a smaller dtype, or a machine (or a sharded setup) with that memory"
            ) from None
    return model


def _resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    try:
        short = canonical_dtype(dtype, allowed=_RUNNABLE_DTYPES)
    except ConfigError as e:  # a dtype that cannot hold trainable weights is an unsupported request
        raise UnsupportedError(str(e)) from None
    return getattr(torch, torch_dtype_name(short))


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise UnsupportedError(f"device {device!r} is not a torch device ({e}); fix: e.g. 'cpu', 'cuda', 'cuda:1' or 'meta'") from None
    if resolved.type not in ("cpu", "meta"):
        try:
            torch.empty(0, device=resolved)
        except (RuntimeError, AssertionError) as e:
            raise UnsupportedError(
                f"device {str(resolved)!r} is not usable with this torch build ({e}); fix: device='cpu', or "
                "install a torch build for that device"
            ) from None
    return resolved
