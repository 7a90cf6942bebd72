"""Exact parameter counts, FLOPs, KV cache and memory from an ArchConfig, without torch.

``count_params`` is exact: its ``total`` equals ``sum(p.numel() for p in model.parameters())``
of both archsmith's model and transformers' model of the same config (a tied LM head
counted once). Everything else is an estimate and says which convention it follows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .config import ArchConfig


@dataclass(frozen=True)
class ParamBreakdown:
    """Where the parameters are. ``norm`` holds every norm weight/bias, qk-norms included."""

    embedding: int  # token embedding, plus the learned position table where there is one
    attention: int  # q, k, v, o projections and their biases, all layers
    ffn: int  # MLP projections and biases, all layers
    norm: int  # block norms, qk-norms, embedding norm, final norm
    lm_head: int  # 0 when tied to the embedding

    @property
    def total(self) -> int:
        return self.embedding + self.attention + self.ffn + self.norm + self.lm_head

    @property
    def non_embedding(self) -> int:
        """Everything but the embedding tables and the LM head (Kaplan et al.'s N)."""
        return self.attention + self.ffn + self.norm

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total, "non_embedding": self.non_embedding}


def norm_params(cfg: ArchConfig, width: int) -> int:
    """Parameters of one norm over ``width`` features."""
    return width * (int(cfg.norm_weight) + int(cfg.norm_bias))


def attention_params_per_layer(cfg: ArchConfig) -> int:
    """q, k, v and o projections of one layer, with their biases (qk-norms are counted as norms)."""
    h, q, kv = cfg.hidden_size, cfg.q_dim, cfg.kv_dim
    weights = h * q + 2 * h * kv + q * h
    biases = (q + 2 * kv) * int(cfg.qkv_bias) + h * int(cfg.attn_out_bias)
    return weights + biases


def ffn_params_per_layer(cfg: ArchConfig) -> int:
    h, i = cfg.hidden_size, cfg.intermediate_size
    n_in = 2 if cfg.mlp_type == "gated" else 1  # gate and up, or up alone
    return n_in * h * i + i * h + (n_in * i + h) * int(cfg.mlp_bias)


def norms_per_layer(cfg: ArchConfig) -> int:
    """How many hidden-width norms one block holds."""
    if cfg.norm_scheme == "peri":
        return 4  # input and output norm around both branches
    if cfg.parallel_shared_norm:
        return 1
    return 2  # pre, post and reordered: one per branch


def qk_norm_params_per_layer(cfg: ArchConfig) -> int:
    if cfg.qk_norm == "head":
        return 2 * norm_params(cfg, cfg.head_dim)
    if cfg.qk_norm == "full":
        return norm_params(cfg, cfg.q_dim) + norm_params(cfg, cfg.kv_dim)
    return 0


def count_params(cfg: ArchConfig) -> ParamBreakdown:
    """The exact parameter count of ``cfg``, broken down by component."""
    h, L, V = cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size
    embedding = V * h
    if cfg.position_embedding == "learned":
        embedding += cfg.max_position_embeddings * h
    norm = L * (norms_per_layer(cfg) * norm_params(cfg, h) + qk_norm_params_per_layer(cfg))
    norm += norm_params(cfg, h) * (int(cfg.final_norm) + int(cfg.embedding_norm))
    lm_head = 0 if cfg.tie_word_embeddings else V * h
    lm_head += V * int(cfg.lm_head_bias)
    return ParamBreakdown(
        embedding=embedding,
        attention=L * attention_params_per_layer(cfg),
        ffn=L * ffn_params_per_layer(cfg),
        norm=norm,
        lm_head=lm_head,
    )
