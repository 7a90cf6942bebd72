"""Exact parameter counts, FLOPs, KV cache and memory from an ArchConfig, without torch.

``count_params`` is exact: its ``total`` equals ``sum(p.numel() for p in model.parameters())``
of both archsmith's model and transformers' model of the same config (a tied LM head
counted once). Everything else is an estimate and says which convention it follows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .config import ArchConfig
from .dtypes import canonical_dtype
from .errors import ConfigError


@dataclass(frozen=True)
class ParamBreakdown:
    """Where the parameters are. ``norm`` holds every norm weight/bias, qk-norms included.

    For a Mixture-of-Experts model, ``total`` counts every expert (what memory holds) and
    ``active`` what one token passes through: ``total`` less ``inactive``, the routed experts a
    token is not sent to (num_experts - num_experts_per_tok of them in each sparse layer).
    """

    embedding: int  # token embedding, the learned position table and OPT's project_in/project_out where there are
    attention: int  # q, k, v, o projections and their biases, all layers
    ffn: int  # MLP projections and biases, all layers: dense MLPs, every routed and shared expert, shared-expert gates
    norm: int  # block norms, qk-norms, embedding norm, final norm
    lm_head: int  # 0 when tied to the embedding
    router: int = 0  # the MoE routers' weights, all sparse layers
    inactive: int = 0  # routed-expert parameters one token does not use

    @property
    def total(self) -> int:
        return self.embedding + self.attention + self.ffn + self.norm + self.lm_head + self.router

    @property
    def non_embedding(self) -> int:
        """Everything but the embedding tables and the LM head (Kaplan et al.'s N)."""
        return self.attention + self.ffn + self.norm + self.router

    @property
    def active(self) -> int:
        """Parameters one token uses (== total for a dense model)."""
        return self.total - self.inactive

    @property
    def active_non_embedding(self) -> int:
        return self.non_embedding - self.inactive

    def to_dict(self) -> dict[str, int]:
        return {
            **asdict(self),
            "total": self.total,
            "non_embedding": self.non_embedding,
            "active": self.active,
            "active_non_embedding": self.active_non_embedding,
        }


def norm_params(cfg: ArchConfig, width: int) -> int:
    """Parameters of one norm over ``width`` features."""
    return width * (int(cfg.norm_weight) + int(cfg.norm_bias))


def attention_weights_per_layer(cfg: ArchConfig) -> int:
    """Weight elements of one layer's attention projections (no biases): each is a matmul per token."""
    h, q = cfg.hidden_size, cfg.q_dim
    if not cfg.is_mla:
        return h * q + 2 * h * cfg.kv_dim + q * h
    # MLA: queries straight (q_proj) or through the q_lora_rank bottleneck (q_a_proj, q_b_proj); keys and
    # values from the latent (kv_a_proj_with_mqa: hidden -> latent + shared RoPE key; kv_b_proj: latent ->
    # every head's no-RoPE key and value); o_proj from the value heads.
    n, r = cfg.num_attention_heads, cfg.kv_lora_rank
    query = h * q if cfg.q_lora_rank is None else h * cfg.q_lora_rank + cfg.q_lora_rank * q
    latent = h * (r + cfg.qk_rope_head_dim) + r * n * (cfg.qk_nope_head_dim + cfg.v_head_dim)
    return query + latent + n * cfg.v_head_dim * h


def attention_params_per_layer(cfg: ArchConfig) -> int:
    """q, k, v and o projections of one layer, with their biases (qk-norms and MLA's latent norms are
    counted as norms). With MLA the input biases sit on the projections out of the hidden state
    (q_a_proj, kv_a_proj_with_mqa), as in DeepSeek's ``attention_bias``."""
    if cfg.is_mla:
        into = (cfg.q_lora_rank or 0) + cfg.kv_lora_rank + cfg.qk_rope_head_dim
    else:
        into = cfg.q_dim + 2 * cfg.kv_dim
    biases = into * int(cfg.qkv_bias) + cfg.hidden_size * int(cfg.attn_out_bias)
    return attention_weights_per_layer(cfg) + biases


def mlp_params(cfg: ArchConfig, intermediate: int) -> int:
    """One MLP (gated or plain) of width ``intermediate``, with its biases."""
    h = cfg.hidden_size
    n_in = 2 if cfg.mlp_type == "gated" else 1  # gate and up, or up alone
    return n_in * h * intermediate + intermediate * h + (n_in * intermediate + h) * int(cfg.mlp_bias)


def ffn_params_per_layer(cfg: ArchConfig) -> int:
    """The dense MLP of one layer."""
    return mlp_params(cfg, cfg.intermediate_size)


def expert_params(cfg: ArchConfig) -> int:
    """One routed expert."""
    return mlp_params(cfg, cfg.moe_intermediate_size)


def shared_expert_params(cfg: ArchConfig) -> int:
    """The shared experts of one sparse layer (fused into one MLP, as HF does) and their gate."""
    if not cfg.n_shared_experts:
        return 0
    return mlp_params(cfg, cfg.shared_expert_total_size) + cfg.hidden_size * int(cfg.shared_expert_gate)


def router_params_per_layer(cfg: ArchConfig) -> int:
    """One sparse layer's router: a [num_experts, hidden] weight, no bias. (DeepSeek-V3's
    e_score_correction_bias is a buffer, not a parameter, in transformers and in archsmith.)"""
    return cfg.num_experts * cfg.hidden_size


def norms_per_layer(cfg: ArchConfig) -> int:
    """How many hidden-width norms one block holds."""
    if cfg.norm_scheme == "peri":
        return 4  # input and output norm around both branches
    if cfg.parallel_shared_norm:
        return 1
    return 2  # pre, post and reordered: one per branch


def qk_norm_params_per_layer(cfg: ArchConfig) -> int:
    """qk-norms, or MLA's norms on its latents (kv_a_layernorm, and q_a_layernorm with q_lora_rank)."""
    if cfg.is_mla:
        return norm_params(cfg, cfg.kv_lora_rank) + (0 if cfg.q_lora_rank is None else norm_params(cfg, cfg.q_lora_rank))
    if cfg.qk_norm == "head":
        return 2 * norm_params(cfg, cfg.head_dim)
    if cfg.qk_norm == "full":
        return norm_params(cfg, cfg.q_dim) + norm_params(cfg, cfg.kv_dim)
    if cfg.qk_norm == "per_head":  # a weight per head, never a bias (StableLM's and Cohere's per-head norms have none)
        return (cfg.q_dim + cfg.kv_dim) * int(cfg.norm_weight)
    return 0


def embedding_width(cfg: ArchConfig) -> int:
    """Width of the token embedding and the LM head's input: word_embed_proj_dim or hidden_size."""
    return cfg.word_embed_proj_dim or cfg.hidden_size


def count_params(cfg: ArchConfig) -> ParamBreakdown:
    """The exact parameter count of ``cfg``, broken down by component."""
    h, L, V, e = cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size, embedding_width(cfg)
    embedding = V * e
    if cfg.word_embed_proj_dim is not None:  # project_in and project_out, no biases
        embedding += 2 * e * h
    if cfg.position_embedding == "learned":  # OPT's table has position_offset rows in front
        embedding += (cfg.max_position_embeddings + cfg.position_offset) * h
    norm = L * (norms_per_layer(cfg) * norm_params(cfg, h) + qk_norm_params_per_layer(cfg))
    norm += norm_params(cfg, h) * (int(cfg.final_norm) + int(cfg.embedding_norm))
    lm_head = 0 if cfg.tie_word_embeddings else V * e
    lm_head += V * int(cfg.lm_head_bias)
    sparse = cfg.num_sparse_layers
    ffn = (L - sparse) * ffn_params_per_layer(cfg)
    if sparse:
        ffn += sparse * (cfg.num_experts * expert_params(cfg) + shared_expert_params(cfg))
    return ParamBreakdown(
        embedding=embedding,
        attention=L * attention_params_per_layer(cfg),
        ffn=ffn,
        norm=norm,
        lm_head=lm_head,
        router=sparse * router_params_per_layer(cfg),
        inactive=sparse * (cfg.num_experts - cfg.num_experts_per_tok) * expert_params(cfg) if sparse else 0,
    )


# --- FLOPs, KV cache and memory ------------------------------------------------------------
#
# FLOPs count 2 per multiply-add. Memory is in bytes. Every estimate below is for one
# un-sharded model replica; the conventions and what they leave out are spelled out in
# ``Estimate.assumptions`` so a figure is never read without them.

DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}
FLOP_CONVENTIONS = ("6N", "kaplan", "palm", "exact_causal")


def causal_pairs(seq_len: int, window: int | None = None) -> int:
    """Unmasked (query, key) pairs in one causal sequence of ``seq_len`` tokens.

    Query t (counting from 1) sees min(t, window) keys: itself and the window - 1 before
    it, as transformers' sliding mask ``kv_idx > q_idx - window`` allows.
    """
    if window is None or window >= seq_len:
        return seq_len * (seq_len + 1) // 2
    return window * (window + 1) // 2 + (seq_len - window) * window


def sliding_layer_count(cfg: ArchConfig) -> int:
    """How many layers attend through the sliding window (O(1) unless layer_types lists them)."""
    if cfg.sliding_window is None:
        return 0
    if cfg.layer_types is None:
        return cfg.num_hidden_layers
    return cfg.layer_types.count("sliding_attention")


def mlp_matmul_flops(cfg: ArchConfig, intermediate: int) -> int:
    """Forward FLOPs of one token through one MLP of width ``intermediate`` (biases left out)."""
    n_in = 2 if cfg.mlp_type == "gated" else 1
    return 2 * (n_in + 1) * cfg.hidden_size * intermediate


def matmul_flops_per_token(cfg: ArchConfig) -> int:
    """Forward FLOPs of the weight matmuls for one token.

    q, k, v, o and the MLP projections of every layer, plus the LM head, which is a
    matmul even when its weight is tied to the embedding, and OPT's project_in/project_out.
    A sparse (MoE) layer counts its router, the num_experts_per_tok experts the token is sent
    to, and the shared experts with their gate: the active parameters. The embedding lookup is a gather (no FLOPs);
    biases are elementwise and left out.
    """
    h = cfg.hidden_size
    attention = 2 * attention_weights_per_layer(cfg)
    sparse = cfg.num_sparse_layers
    flops = cfg.num_hidden_layers * attention + (cfg.num_hidden_layers - sparse) * mlp_matmul_flops(cfg, cfg.intermediate_size)
    if sparse:
        moe = 2 * h * cfg.num_experts + cfg.num_experts_per_tok * mlp_matmul_flops(cfg, cfg.moe_intermediate_size)
        if cfg.n_shared_experts:
            moe += mlp_matmul_flops(cfg, cfg.shared_expert_total_size) + 2 * h * int(cfg.shared_expert_gate)
        flops += sparse * moe
    e = embedding_width(cfg)
    projections = 2 * 2 * e * h if cfg.word_embed_proj_dim is not None else 0
    return flops + 2 * e * cfg.vocab_size + projections


def attention_flops(cfg: ArchConfig, seq_len: int) -> int:
    """Forward FLOPs of QKᵀ and AV over one sequence, counting only unmasked positions.

    Each (query, key) pair costs head_dim multiply-adds per query head in QKᵀ and the value
    head width in AV (the same but for MLA's v_head_dim); each layer's pairs honour its own
    window. MLA is counted as trained and prefilled: keys and values expanded per head.
    """
    per_pair = 2 * cfg.num_attention_heads * (cfg.head_dim + cfg.value_head_dim)
    sliding = sliding_layer_count(cfg)
    full = cfg.num_hidden_layers - sliding
    pairs = full * causal_pairs(seq_len) + sliding * causal_pairs(seq_len, cfg.sliding_window)
    return per_pair * pairs


@dataclass(frozen=True)
class FlopCount:
    """FLOPs per token under one named convention."""

    forward_per_token: int | float
    training_per_token: int | float
    description: str

    def to_dict(self) -> dict[str, int | float | str]:
        return asdict(self)


def flop_counts(cfg: ArchConfig, seq_len: int) -> dict[str, FlopCount]:
    """FLOPs per token of a ``seq_len``-token sequence under each of FLOP_CONVENTIONS.

    The three published conventions give ints (their formulas are integral); exact_causal
    gives floats, because a query attends (T+1)/2 keys on average.
    """
    params = count_params(cfg)
    L, T, V, h = cfg.num_hidden_layers, seq_len, cfg.vocab_size, embedding_width(cfg)
    # A Mixture-of-Experts token passes through its active parameters only: N counts those.
    n_total = params.active
    n_kaplan = params.active_non_embedding
    n_palm = params.active_non_embedding + V * h
    active = "active " if cfg.is_moe else ""
    kaplan_attn = 2 * L * T * cfg.q_dim
    palm_attn = 4 * L * cfg.num_attention_heads * cfg.head_dim * T  # forward; 12·L·H·Q·T in training
    exact_forward = matmul_flops_per_token(cfg) + attention_flops(cfg, T) / T
    projections = "the MLA projections (q, kv_a, kv_b, o)" if cfg.is_mla else "q/k/v/o"
    return {
        "6N": FlopCount(
            forward_per_token=2 * n_total,
            training_per_token=6 * n_total,
            description=(
                f"Hoffmann et al. 2022 (Chinchilla): training 6N, forward 2N, N = {n_total:,} {active or 'total '}parameters; "
                "attention scores not counted"
            ),
        ),
        "kaplan": FlopCount(
            forward_per_token=2 * n_kaplan + kaplan_attn,
            training_per_token=3 * (2 * n_kaplan + kaplan_attn),
            description=(
                f"Kaplan et al. 2020: forward 2N + 2·L·T·d_attn, training 6N + 6·L·T·d_attn, "
                f"N = {n_kaplan:,} {active}non-embedding parameters, d_attn = heads·head_dim = {cfg.q_dim}, T = {T}; "
                "full (unmasked, unwindowed) context"
            ),
        ),
        "palm": FlopCount(
            forward_per_token=2 * n_palm + palm_attn,
            training_per_token=3 * (2 * n_palm + palm_attn),
            description=(
                f"PaLM (Chowdhery et al. 2022) appendix B, as nanoGPT's estimate_mfu: training 6N + 12·L·H·Q·T, "
                f"forward a third of it, N = {n_palm:,} = {active}non-embedding parameters + the LM-head matmul "
                f"({V}×{h}, counted even when tied, as PaLM's shared embedding and nanoGPT's tied wte are); "
                "attention over the full T, no causal mask or window"
            ),
        ),
        "exact_causal": FlopCount(
            forward_per_token=exact_forward,
            training_per_token=3 * exact_forward,
            description=(
                f"every matmul counted exactly: {projections}, MLP{_moe_matmuls(cfg)}, "
                "LM head (a matmul even when tied), and QKᵀ and AV "
                "over the unmasked causal positions only (each layer's sliding window honoured); "
                "training = 3 × forward (backward ≈ 2 × forward)"
            ),
        ),
    }


def kv_cache_elements_per_layer_token(cfg: ArchConfig) -> int:
    """What one layer caches per token: K and V of every KV head (2·kv_heads·head_dim), or with MLA
    the compressed latent and the shared RoPE key (kv_lora_rank + qk_rope_head_dim), which is what
    inference engines (DeepSeek's own code, vLLM, SGLang, FlashMLA) and archsmith's KVCache store."""
    if cfg.is_mla:
        return cfg.kv_lora_rank + cfg.qk_rope_head_dim
    return 2 * cfg.kv_dim


def mla_expanded_kv_elements_per_layer_token(cfg: ArchConfig) -> int:
    """The per-head K and V an MLA layer's latent expands to (what a cache without MLA would hold)."""
    return cfg.num_attention_heads * (cfg.head_dim + cfg.v_head_dim)


def kv_cache_contents(cfg: ArchConfig) -> str:
    """What the cache holds per token and layer, in a few words (a table cell beside the bytes)."""
    if cfg.is_mla:
        return f"MLA latent {cfg.kv_lora_rank} + RoPE key {cfg.qk_rope_head_dim}"
    return f"K and V, {cfg.num_key_value_heads} KV heads x {cfg.head_dim}"


def _moe_matmuls(cfg: ArchConfig) -> str:
    if not cfg.is_moe:
        return ""
    return f" (router, the {cfg.num_experts_per_tok} chosen experts{', shared experts' if cfg.n_shared_experts else ''})"


def kv_cache_bytes_per_token(cfg: ArchConfig, dtype: str) -> int:
    """The cache of every layer for one token, not capped by any window (see kv_cache_elements_per_layer_token)."""
    return cfg.num_hidden_layers * kv_cache_elements_per_layer_token(cfg) * DTYPE_BYTES[dtype]


def kv_cache_bytes(cfg: ArchConfig, seq_len: int, batch: int, dtype: str) -> int:
    """The KV cache after ``seq_len`` tokens of ``batch`` sequences.

    A sliding layer keeps only the last ``window`` tokens: that is all its queries can see.
    """
    per_layer_token = kv_cache_elements_per_layer_token(cfg) * DTYPE_BYTES[dtype]
    sliding = sliding_layer_count(cfg)
    window = seq_len if cfg.sliding_window is None else min(seq_len, cfg.sliding_window)
    tokens = (cfg.num_hidden_layers - sliding) * seq_len + sliding * window
    return batch * per_layer_token * tokens


def training_storage_dtype(dtype: str) -> str:
    """The dtype training stores weights, gradients and activations in for compute ``dtype``.

    FP8 training (e.g. Transformer Engine) casts to fp8 inside each matmul but keeps the
    tensors themselves in bf16.
    """
    return "bf16" if dtype == "fp8" else dtype


def _mlp_activations(cfg: ArchConfig, intermediate: int) -> int:
    """Elements one MLP keeps per token. Plain: the activation's input and output (down's
    input). Gated: gate(x), up(x), act(gate(x)) and the product (down's input); a fused
    kernel would recompute one."""
    return (4 if cfg.mlp_type == "gated" else 2) * intermediate


def moe_activation_bytes_per_token(cfg: ArchConfig, dtype: str) -> int:
    """Bytes a sparse layer's feed-forward keeps per token for backward (instead of the MLP's).

    The router's fp32 logits and scores (2 × num_experts × 4 bytes); per chosen expert, the
    token's gathered copy (the expert's input), the expert MLP's activations and its output
    (the routing weight's gradient needs it); the shared experts' MLP activations and their
    gate's output.
    """
    p = DTYPE_BYTES[dtype]
    h, k = cfg.hidden_size, cfg.num_experts_per_tok
    routed = k * (2 * h + _mlp_activations(cfg, cfg.moe_intermediate_size))
    shared = _mlp_activations(cfg, cfg.shared_expert_total_size) + h * int(cfg.shared_expert_gate) if cfg.n_shared_experts else 0
    return p * (routed + shared) + 8 * cfg.num_experts


def layer_activation_bytes_per_token(cfg: ArchConfig, dtype: str, sparse: bool = False) -> int:
    """Bytes one block keeps per token for its backward pass, in storage ``dtype``.

    Korthikanti et al. 2022 ("Reducing Activation Recomputation", §4.1) give 34·h bytes plus
    5·heads·T for a GPT block in 16 bits. This is the same derivation for this architecture,
    with a fused (flash) attention kernel, which keeps no T×T scores and regenerates its
    dropout mask from the RNG state, so the 5·heads·T term is gone. ``sparse``: the block's
    feed-forward is a Mixture-of-Experts layer (see moe_activation_bytes_per_token).
    """
    p = DTYPE_BYTES[dtype]
    h, q, kv = cfg.hidden_size, cfg.q_dim, cfg.kv_dim
    # Residual-stream-wide tensors: each norm's input, and each branch's input (a norm's
    # output, or the stream itself for post/reordered norms): two per branch, three with
    # peri-LN's extra output norm. Parallel branches read the same x (stored once) through
    # one shared norm or two norms.
    if cfg.parallel_residual:
        stream = 2 if cfg.parallel_shared_norm else 3
    else:
        stream = 6 if cfg.norm_scheme == "peri" else 4
    # The attention kernel keeps Q, K and V (K and V at kv width: GQA is not expanded) and
    # its output O, which is also o_proj's input. qk-norms keep their inputs besides.
    if cfg.is_mla:
        # Q and K per head, V and O at the value width; besides, the latent's norm input (latent + RoPE
        # key) and kv_b_proj's input, and with q_lora_rank the query bottleneck before and after its norm.
        v = cfg.num_attention_heads * cfg.v_head_dim
        attention = 2 * q + 2 * v + 2 * cfg.kv_lora_rank + cfg.qk_rope_head_dim + 2 * (cfg.q_lora_rank or 0)
    else:
        attention = 2 * q + 2 * kv
    if cfg.qk_norm != "none":
        attention += q + kv
    masks = 2 * h if cfg.hidden_dropout > 0 else 0  # one byte per element, after each branch
    if sparse:
        return p * (stream * h + attention) + moe_activation_bytes_per_token(cfg, dtype) + masks
    return p * (stream * h + attention + _mlp_activations(cfg, cfg.intermediate_size)) + masks


def head_activation_bytes_per_token(cfg: ArchConfig, dtype: str) -> int:
    """Bytes kept per token outside the blocks: embedding side, final norm, LM head, loss."""
    p = DTYPE_BYTES[dtype]
    h, V = cfg.hidden_size, cfg.vocab_size
    # The LM head's input (project_out's with OPT's projections), plus the inputs of the final
    # norm and of the embedding norm; with the projections also project_in's and the LM head's
    # inputs, at the embedding width.
    stream = (1 + int(cfg.final_norm) + int(cfg.embedding_norm)) * h
    if cfg.word_embed_proj_dim is not None:
        stream += 2 * cfg.word_embed_proj_dim
    # The logits in the storage dtype (transformers returns them) and the fp32 log-softmax
    # output that cross-entropy keeps (transformers upcasts logits before the loss).
    logits = (p + 4) * V
    if cfg.final_logit_softcapping is not None:
        logits += p * V  # tanh keeps its output
    mask = h if cfg.embedding_dropout > 0 else 0
    return p * stream + logits + mask


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes to train one un-sharded replica with mixed-precision AdamW."""

    weights: int  # in the storage dtype
    master_weights: int  # fp32 copy the optimizer updates; 0 when training in fp32
    gradients: int  # in the storage dtype
    optimizer: int  # Adam m and v, fp32
    activations: int  # everything kept for backward, no recomputation
    activations_checkpointed: int  # full checkpointing: layer inputs plus one layer recomputed

    @property
    def total(self) -> int:
        return self.weights + self.master_weights + self.gradients + self.optimizer + self.activations

    @property
    def total_checkpointed(self) -> int:
        return self.weights + self.master_weights + self.gradients + self.optimizer + self.activations_checkpointed

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total, "total_checkpointed": self.total_checkpointed}


def training_memory(cfg: ArchConfig, seq_len: int, batch: int, dtype: str) -> TrainingMemory:
    """Memory of one AdamW training step on ``batch`` sequences of ``seq_len`` tokens."""
    storage = training_storage_dtype(dtype)
    p = DTYPE_BYTES[storage]
    n = count_params(cfg).total  # every expert is held, trained and updated
    tokens = seq_len * batch
    sparse = cfg.num_sparse_layers
    dense_layer = layer_activation_bytes_per_token(cfg, storage)
    sparse_layer = layer_activation_bytes_per_token(cfg, storage, sparse=True) if sparse else 0
    layers = (cfg.num_hidden_layers - sparse) * dense_layer + sparse * sparse_layer
    largest = max(dense_layer if sparse < cfg.num_hidden_layers else 0, sparse_layer)  # the one recomputed at a time
    head = head_activation_bytes_per_token(cfg, storage)
    return TrainingMemory(
        weights=p * n,
        master_weights=0 if storage == "fp32" else 4 * n,
        gradients=p * n,
        optimizer=8 * n,
        activations=tokens * (layers + head),
        activations_checkpointed=tokens * (cfg.num_hidden_layers * p * cfg.hidden_size + largest + head),
    )


@dataclass(frozen=True)
class Estimate:
    """FLOPs and memory of ``cfg`` at one sequence length, batch size and dtype.

    ``to_dict()`` keys (stable; the CLI renders them):

    - ``params``: ``count_params(cfg).to_dict()``
    - ``seq_len``, ``batch``, ``dtype``: the request
    - ``flops``: convention ("6N", "kaplan", "palm", "exact_causal") ->
      {"forward_per_token", "training_per_token", "description"}; ints for the first
      three, floats for exact_causal
    - ``kv_cache_bytes``: int, the cache for ``batch`` sequences of ``seq_len`` tokens in
      ``dtype``, sliding layers capped at their window
    - ``kv_cache_bytes_per_token``: int, 2·layers·kv_heads·head_dim·bytes, uncapped; with MLA
      layers·(kv_lora_rank + qk_rope_head_dim)·bytes, the compressed latent
    - ``kv_cache_holds``: str, what those bytes are (K and V, or the MLA latent)
    - ``weight_bytes``: dtype ("fp32", "bf16", "fp16", "fp8") -> int, total params × bytes
    - ``training_memory``: int bytes: weights, master_weights, gradients, optimizer,
      activations, activations_checkpointed, total, total_checkpointed
    - ``assumptions``: list of str, the conventions behind the figures
    - ``warnings``: list of str, each with its fix
    """

    params: ParamBreakdown
    seq_len: int
    batch: int
    dtype: str
    flops: dict[str, FlopCount]
    kv_cache_bytes: int
    kv_cache_bytes_per_token: int
    kv_cache_holds: str
    weight_bytes: dict[str, int]
    training_memory: TrainingMemory
    assumptions: list[str]
    warnings: list[str]

    def to_dict(self) -> dict:
        return {
            "params": self.params.to_dict(),
            "seq_len": self.seq_len,
            "batch": self.batch,
            "dtype": self.dtype,
            "flops": {name: count.to_dict() for name, count in self.flops.items()},
            "kv_cache_bytes": self.kv_cache_bytes,
            "kv_cache_bytes_per_token": self.kv_cache_bytes_per_token,
            "kv_cache_holds": self.kv_cache_holds,
            "weight_bytes": dict(self.weight_bytes),
            "training_memory": self.training_memory.to_dict(),
            "assumptions": list(self.assumptions),
            "warnings": list(self.warnings),
        }


def estimate(cfg: ArchConfig, seq_len: int, batch: int = 1, dtype: str = "bf16") -> Estimate:
    """FLOPs per token, KV cache, weight and training memory of ``cfg``.

    ``dtype`` is the compute dtype (KV cache, training); ``weight_bytes`` lists every dtype.
    Raises ConfigError for an unknown dtype, a non-positive seq_len or batch, or a seq_len
    beyond a learned position table.
    """
    dtype = canonical_dtype(dtype, allowed=tuple(DTYPE_BYTES))
    warnings = _check_request(cfg, seq_len, batch)
    params = count_params(cfg)
    return Estimate(
        params=params,
        seq_len=seq_len,
        batch=batch,
        dtype=dtype,
        flops=flop_counts(cfg, seq_len),
        kv_cache_bytes=kv_cache_bytes(cfg, seq_len, batch, dtype),
        kv_cache_bytes_per_token=kv_cache_bytes_per_token(cfg, dtype),
        kv_cache_holds=kv_cache_contents(cfg),
        weight_bytes={name: params.total * size for name, size in DTYPE_BYTES.items()},
        training_memory=training_memory(cfg, seq_len, batch, dtype),
        assumptions=_assumptions(cfg, dtype),
        warnings=warnings,
    )


MAX_TOKENS = 2**31  # seq_len and batch above this are refused: no kernel indexes that many positions


def _check_request(cfg: ArchConfig, seq_len: int, batch: int) -> list[str]:
    """Raise ConfigError for a request that cannot be sized; return its warnings."""
    problems = []
    for name, value in (("seq_len", seq_len), ("batch", batch)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{name}={value!r} must be a positive integer; fix: give a whole number such as 1 or 2048")
        elif value > MAX_TOKENS:
            problems.append(f"{name}={value:,} is beyond any context or batch a model is run at (at most "
                            f"{MAX_TOKENS:,}, 2^31, where token positions stop fitting int32 indices); fix: a value "
                            f"up to {MAX_TOKENS:,}")
    if problems:
        raise ConfigError(problems)
    limit = cfg.max_position_embeddings
    if seq_len <= limit:
        return []
    if cfg.position_embedding == "learned":
        raise ConfigError(
            f"seq_len={seq_len} exceeds max_position_embeddings={limit}, the size of the learned position "
            f"table, which cannot grow; fix: seq_len <= {limit}, or a config with max_position_embeddings >= {seq_len}"
        )
    return [
        f"seq_len={seq_len} exceeds max_position_embeddings={limit}: the model is not configured for "
        f"positions this far; fix: seq_len <= {limit}, or raise "
        "max_position_embeddings (with rope_scaling for a RoPE model trained at the shorter length)"
    ]


def _kv_cache_line(cfg: ArchConfig, dtype: str) -> str:
    size = f"in {dtype} ({DTYPE_BYTES[dtype]} bytes/element)"
    if not cfg.is_mla:
        return (f"KV cache: K and V of every layer {size}; a sliding-window layer keeps min(seq_len, window) tokens; "
                "kv_cache_bytes_per_token is uncapped")
    latent, expanded = kv_cache_elements_per_layer_token(cfg), mla_expanded_kv_elements_per_layer_token(cfg)
    return (
        f"KV cache (MLA): the compressed latent, as inference engines store it: kv_lora_rank + qk_rope_head_dim = "
        f"{cfg.kv_lora_rank} + {cfg.qk_rope_head_dim} = {latent:,} elements per token per layer {size}; expanded "
        f"to per-head K and V it would be heads·(qk_nope + qk_rope + v_head_dim) = {cfg.num_attention_heads}·"
        f"{cfg.head_dim + cfg.v_head_dim} = {expanded:,} elements, {expanded / latent:.1f}× more; "
        "kv_cache_bytes_per_token is uncapped"
    )


def _assumptions(cfg: ArchConfig, dtype: str) -> list[str]:
    storage = training_storage_dtype(dtype)
    p = DTYPE_BYTES[storage]
    if storage == "fp32":
        optimizer_line = (
            "training memory: fp32 AdamW, 16 bytes/param: fp32 weights (4) and gradients (4), Adam m and v (8), "
            "no master copy"
        )
    else:
        optimizer_line = (
            f"training memory: mixed-precision AdamW, 16 bytes/param (ZeRO's accounting): {storage} weights ({p}), "
            f"{storage} gradients ({p}), fp32 master weights (4), fp32 Adam m and v (8); accumulating gradients "
            "in fp32 (Megatron's main_grad) would make it 18"
        )
    lines = [
        "FLOPs: 2 per multiply-add, per token of a seq_len-token sequence (forward over the whole prefix, as in "
        "training or prefill); training = forward + backward, no recomputation",
        "exact_causal leaves out elementwise work: softmax, norms, activations, RoPE, ALiBi biases, softcapping, "
        "residual adds, biases",
        _kv_cache_line(cfg, dtype),
        optimizer_line,
        "activations: per layer, Korthikanti et al. 2022 generalised to this block (GQA or MLA, gated MLP, head_dim, "
        "norm placement, qk-norm), assuming a fused/flash attention kernel that stores no seq_len×seq_len scores "
        "and regenerates attention dropout; K and V kept at kv_heads width; dropout masks 1 byte/element only "
        "where dropout > 0; plus the final norm, LM-head input, logits and fp32 log-softmax",
        "activation checkpointing (full): each layer's input kept, one layer's activations recomputed at a time; "
        "the LM head and loss are not checkpointed",
        "not counted: CUDA context and framework buffers, allocator fragmentation, temporaries, per-row statistics "
        "(norm rstd, attention logsumexp); no data/tensor parallel sharding (one replica)",
    ]
    if cfg.is_moe:
        lines.append(
            "Mixture-of-Experts: FLOPs per token from the active parameters (router, num_experts_per_tok routed "
            "experts, shared experts); weights, gradients and optimizer state from the total (every expert); "
            "activations of a sparse layer: fp32 router logits and scores, and per chosen expert its input copy, MLP "
            "activations and output; no capacity limit or token dropping, no expert-parallel all-to-all buffers"
        )
    if dtype == "fp8":
        lines.append(
            "fp8 training keeps weights, gradients and activations in bf16 and casts to fp8 inside the matmuls "
            "(as Transformer Engine does), so training memory uses bf16 storage"
        )
    return lines
