"""Shared helpers of the HF interop tests: tiny perturbed models on both sides, logits and greedy tokens.

Every weight, bias and norm is moved away from its init value (norms start at exactly 1 or
0, where a swapped or dropped norm would go unnoticed), and the models run in fp32 on CPU.
"""

from __future__ import annotations

import warnings

import torch

from archsmith import ArchConfig

VOCAB = 128
SEQ = 24  # longer than every sliding window used in the tests
NEW_TOKENS = 16
TOLERANCE = 1e-4

TINY = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96, max_position_embeddings=64)


def quiet_transformers():
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    warnings.filterwarnings("ignore", module="transformers")


@torch.no_grad()
def perturb(model: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> None:
    """Every parameter, and DeepSeek-V3's e_score_correction_bias: a buffer (updated outside
    backprop) that changes which experts a token is routed to."""
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.add_(torch.randn(p.shape, generator=g) * scale)
    for name, b in model.named_buffers():
        if name.endswith("e_score_correction_bias"):
            b.add_(torch.randn(b.shape, generator=g) * scale)


def input_ids(batch: int = 2, seq: int = SEQ, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def max_logit_diff(archsmith_model, hf_model, ids: torch.Tensor) -> float:
    ours = archsmith_model(ids)
    theirs = hf_model(ids).logits
    assert ours.shape == theirs.shape
    return (ours - theirs).abs().max().item()


@torch.no_grad()
def greedy_both(archsmith_model, hf_model, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """archsmith's generate and transformers' own generate (with its cache), greedy."""
    ours = archsmith_model.generate(prompt, max_new_tokens=NEW_TOKENS)
    # Neither side stops at an EOS token: transformers would otherwise stop (or, with
    # min_new_tokens, forbid the EOS token) where our call without eos_token_id does not.
    hf_model.generation_config.eos_token_id = None
    theirs = hf_model.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=NEW_TOKENS,
        do_sample=False,
        pad_token_id=0,
    )
    return ours, theirs



def tiny_config(family) -> ArchConfig:
    """A tiny model of one registered family, from its declaration alone: the class's defaults
    (an empty config.json) shrunk to TINY, with as many kv heads as heads and a 4 * hidden MLP
    (what the strictest classes want), and any sliding window shorter than SEQ. A Mixture-of-Experts
    class routes each token to 2 experts of 32 features after at most one dense layer (DeepSeek-V3's
    default of 256 experts of 2048 would be 100M weights a layer; DeepSeek-V2's default routes to none)."""
    small_moe = {"num_experts_per_tok": 2, "moe_intermediate_size": 32, "first_k_dense_replace": 1}
    cfg = family.read({"model_type": family.model_type, **{k: v for k, v in small_moe.items() if k in family.known_keys}})
    window = None if cfg.sliding_window is None else 8
    layers = TINY["num_hidden_layers"]
    types = cfg.layer_types and cfg.layer_types[:layers]  # the class's pattern, cut to the tiny depth
    if types and len(set(types)) == 1:
        types = None  # ArchConfig's canonical form of a uniform pattern
    return cfg.replace(
        **{**TINY, "num_key_value_heads": 4, "intermediate_size": 256, "head_dim": None, "sliding_window": window, "layer_types": types}
    )
