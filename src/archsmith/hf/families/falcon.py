"""Falcon (Falcon-7B/40B/180B, Falcon-RW, Falcon2-11B): HF ``model_type: falcon``.

Pre-LayerNorm with bias, a plain MLP of ``ffn_hidden_size`` (null: 4 * hidden), one ``bias``
for every linear layer but the LM head, and q, k, v fused in one ``query_key_value``. Which
block and which attention depend on three switches of ``FalconDecoderLayer`` and
``FalconAttention``:

    new_decoder_architecture  GQA with ``num_kv_heads``, always parallel; two norms (ln_attn,
                              ln_mlp) unless ``num_ln_in_parallel_attn`` is 1 (one shared norm)
    otherwise                 ``multi_query``: one key/value head, else MHA; ``parallel_attn``:
                              a parallel block with one shared norm, else a sequential block

Positions are rotate-half RoPE over the whole head, or with ``alibi`` ALiBi whose bias (slope x
key position, formed in bfloat16) is added to q·k before the 1/sqrt(head_dim) scale
(``alibi_before_scale``), as Falcon's default SDPA attention computes it; its eager attention
adds the bias a second time through the mask, which is not matched. Falcon applies
``hidden_dropout`` to the sum of both branches and ``attention_dropout`` in three different
places, neither as archsmith's dropouts do, so nonzero values (no released Falcon has any) are
refused. Defaults are those of transformers 5.24 ``FalconConfig`` (Falcon-7B).
"""

from typing import Any

from ...config import ArchConfig
from ..common import refuse_unless
from ..family import LAYERNORM, Family, Layout, RopeKeys, implicit_head_dim, per_kv_head


def _block(d: dict[str, Any], heads: int) -> dict[str, Any]:
    """Key/value heads and the residual block, as FalconAttention and FalconDecoderLayer build them."""
    num_kv = d.get("num_kv_heads")
    num_kv = heads if num_kv is None else num_kv
    parallel = bool(d.get("parallel_attn", True))  # the class tests these switches for truth: null is false
    norms = d.get("num_ln_in_parallel_attn")
    if d.get("new_decoder_architecture"):
        refuse_unless(
            parallel,
            "falcon",
            "new_decoder_architecture with parallel_attn=false (FalconDecoderLayer then builds norms its forward "
            "does not use and fails)",
            "parallel_attn=true",
        )
        refuse_unless(
            norms in (None, 1, 2),
            "falcon",
            f"num_ln_in_parallel_attn={norms} (FalconDecoderLayer handles only 1 or 2 and fails otherwise)",
            "num_ln_in_parallel_attn=1 (one shared norm) or 2 (ln_attn and ln_mlp)",
        )
        return {"num_key_value_heads": num_kv, "parallel_residual": True, "parallel_shared_norm": norms == 1}
    refuse_unless(
        not (parallel and norms == 2),
        "falcon",
        "num_ln_in_parallel_attn=2 without new_decoder_architecture (FalconDecoderLayer then builds ln_attn/ln_mlp "
        "but its forward uses input_layernorm, and fails)",
        "num_ln_in_parallel_attn=null, or new_decoder_architecture=true",
    )
    if d.get("multi_query", True):
        num_kv = 1
    refuse_unless(
        num_kv in (1, heads),
        "falcon",
        f"num_kv_heads={num_kv} != num_attention_heads={heads} without multi_query or new_decoder_architecture "
        "(FalconAttention then fuses MHA weights and fails to reshape them)",
        "remove num_kv_heads, or set new_decoder_architecture=true for GQA",
    )
    return {"num_key_value_heads": num_kv, "parallel_residual": parallel, "parallel_shared_norm": parallel}


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    for key in ("hidden_dropout", "attention_dropout"):
        refuse_unless(
            not d.get(key),
            "falcon",
            f"{key}={d.get(key)} (Falcon drops the sum of both branches and the attention weights only in some "
            "paths, which archsmith's dropouts do not express)",
            f"{key}=0.0, as in every released Falcon (dropout only matters in training)",
        )
    hidden = d["n_embed"] if d.get("n_embed") is not None else read["hidden_size"]  # FalconConfig's old name wins
    ffn = d.get("ffn_hidden_size")
    bias = bool(read["qkv_bias"])  # null is false, as FalconLinear(bias=None) has none
    alibi = bool(d.get("alibi"))
    return {
        "hidden_size": hidden,
        "intermediate_size": ffn if ffn is not None else 4 * hidden,
        **_block(d, read["num_attention_heads"]),
        "qkv_bias": bias,
        "attn_out_bias": bias,
        "mlp_bias": bias,
        "position_embedding": "alibi" if alibi else "rope",
        "alibi_before_scale": alibi,
    }


def _write(cfg: ArchConfig) -> dict[str, Any]:
    """The switches of the Falcon block that runs ``cfg``: the original architecture (Falcon-7B, -RW)
    where it can (MQA or MHA), else the new one (GQA, or a parallel block with two norms)."""
    old_attention = cfg.num_key_value_heads in (1, cfg.num_attention_heads)
    if old_attention and (cfg.parallel_shared_norm or not cfg.parallel_residual):
        block = {"new_decoder_architecture": False, "parallel_attn": cfg.parallel_residual, "num_ln_in_parallel_attn": None}
    else:
        block = {
            "new_decoder_architecture": True,
            "parallel_attn": True,
            "num_ln_in_parallel_attn": 1 if cfg.parallel_shared_norm else 2,
        }
    return {
        **block,
        "num_kv_heads": cfg.num_key_value_heads,
        "multi_query": cfg.num_key_value_heads == 1,  # read by the original architecture only
        "alibi": cfg.position_embedding == "alibi",
        "ffn_hidden_size": cfg.intermediate_size,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
    }


def _problems(cfg: ArchConfig) -> list[str]:
    problems = []
    if not cfg.parallel_residual and cfg.num_key_value_heads not in (1, cfg.num_attention_heads):
        problems.append("GQA in a sequential block (its GQA architecture is always parallel)")
    if cfg.position_embedding not in ("rope", "alibi"):
        problems.append(f"position_embedding={cfg.position_embedding!r} (it has RoPE or ALiBi)")
    elif cfg.position_embedding == "alibi" and not cfg.alibi_before_scale:
        problems.append("ALiBi added after the softmax scale (its bias is scaled with q·k: alibi_before_scale)")
    return problems


def _layout(cfg: ArchConfig) -> Layout:
    """Falcon names its norms by block kind: one shared input_layernorm (parallel, Falcon-7B), ln_attn
    and ln_mlp (parallel with two norms, Falcon-40B), or input/post_attention_layernorm (sequential)."""
    if cfg.parallel_residual and not cfg.parallel_shared_norm:
        norms = {"attn_norm": "ln_attn", "mlp_norm": "ln_mlp"}
    else:
        norms = {"attn_norm": "input_layernorm", "mlp_norm": "post_attention_layernorm"}
    return Layout(
        {"embed_tokens": "transformer.word_embeddings", "norm": "transformer.ln_f", "lm_head": "lm_head"},
        "transformer.h.{i}.",
        {
            "attn.q_proj": ("self_attention.query_key_value", 0),
            "attn.k_proj": ("self_attention.query_key_value", 1),
            "attn.v_proj": ("self_attention.query_key_value", 2),
            "attn.o_proj": "self_attention.dense",
            **norms,
            "mlp.up_proj": "mlp.dense_h_to_4h",
            "mlp.down_proj": "mlp.dense_4h_to_h",
        },
        fused_groups=per_kv_head,  # [kv_heads, (query heads of the group, key, value), head_dim]
    )


FAMILY = Family(
    model_type="falcon",
    architecture="FalconForCausalLM",
    keys={
        "vocab_size": ("vocab_size", 65024),
        "hidden_size": ("hidden_size", 4544),
        "num_hidden_layers": ("num_hidden_layers", 32),
        "num_attention_heads": ("num_attention_heads", 71),
        "max_position_embeddings": ("max_position_embeddings", 2048),
        "activation": ("hidden_act", "gelu"),
        "layer_norm_epsilon": ("norm_eps", 1e-5),
        "bias": (("qkv_bias", "attn_out_bias", "mlp_bias"), False),
        "initializer_range": ("initializer_range", 0.02),
        "tie_word_embeddings": ("tie_word_embeddings", True),
    },
    facts={**LAYERNORM, "mlp_type": "plain", "attention_dropout": 0.0},
    layout=_layout,
    export_rank=171,
    rope=RopeKeys(),  # FalconRotaryEmbedding, built with ALiBi too but then unused
    other_keys=frozenset(
        {
            "n_embed",  # the old name of hidden_size, still read by FalconConfig
            "num_kv_heads", "num_ln_in_parallel_attn", "new_decoder_architecture", "multi_query", "parallel_attn",
            "alibi", "ffn_hidden_size", "hidden_dropout", "attention_dropout",
            "apply_residual_connection_post_layernorm",  # a RefinedWeb-era key that FalconDecoderLayer never reads
            "use_cache", "bos_token_id", "eos_token_id", "pad_token_id",
        }
    ),  # fmt: skip
    read_extra=_read,
    write_extra=_write,
    free=("position_embedding", "alibi_before_scale", "parallel_residual", "parallel_shared_norm"),
    checks=(implicit_head_dim, _problems),
)
