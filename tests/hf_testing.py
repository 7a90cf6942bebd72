"""Shared helpers of the HF interop tests: tiny perturbed models on both sides, logits and greedy tokens.

Every weight, bias and norm is moved away from its init value (norms start at exactly 1 or
0, where a swapped or dropped norm would go unnoticed), and the models run in fp32 on CPU.
"""

from __future__ import annotations

import warnings

import torch

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
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.add_(torch.randn(p.shape, generator=g) * scale)
    # Checkpointed buffers that are weights too: DeepSeek-V3's routing bias starts at 0.
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
