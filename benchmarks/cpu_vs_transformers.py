"""Forward + backward of a ~110M Llama-style model on CPU: archsmith vs transformers.

Both models get the same config, the same weights (copied by name) and the same batch;
the script checks that their losses agree, then times each over a few steps, alternating
the two so that a noisy shared machine hurts both alike. Needs torch, transformers and
safetensors only:

    PYTHONPATH=src python benchmarks/cpu_vs_transformers.py [--batch 4] [--seq 256] [--steps 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import transformers

from archsmith import ArchConfig
from archsmith.hf.weights import from_hf_state
from archsmith.model import build_model

SHAPE = dict(
    vocab_size=32000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4,
    intermediate_size=2048, max_position_embeddings=2048,
)  # fmt: skip


def build_pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    hf = transformers.LlamaForCausalLM(
        transformers.LlamaConfig(**SHAPE, rms_norm_eps=1e-5, tie_word_embeddings=True, attn_implementation="sdpa")
    )
    ours = build_model(ArchConfig(**SHAPE, norm_eps=1e-5, tie_word_embeddings=True))
    # HF's separate q/k/v and gate/up tensors into archsmith's fused ones, through the same adapters as from_hf
    shapes = {name: tuple(t.shape) for name, t in ours.state_dict().items()}
    hf_state = {k: v for k, v in hf.state_dict().items() if k != "lm_head.weight"}  # tied: the embedding
    ours.load_state_dict(from_hf_state(hf_state, ours.config, "llama", shapes))
    return ours, hf


def step(model: torch.nn.Module, ids: torch.Tensor) -> float:
    """One forward + backward; returns the loss."""
    model.zero_grad(set_to_none=True)
    loss = model(ids, labels=ids).loss
    loss.backward()
    return loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    ours, hf = build_pair()
    ours.train()
    hf.train()
    n_params = sum(p.numel() for p in ours.parameters())
    ids = torch.randint(0, SHAPE["vocab_size"], (args.batch, args.seq), generator=torch.Generator().manual_seed(1))

    loss_ours, loss_hf = step(ours, ids), step(hf, ids)  # also a warm-up for each
    if abs(loss_ours - loss_hf) > 1e-4:
        raise SystemExit(f"the two models disagree: loss {loss_ours} vs {loss_hf}")

    times: dict[str, list[float]] = {"archsmith": [], "transformers": []}
    for _ in range(args.steps):
        for label, model in (("archsmith", ours), ("transformers", hf)):
            start = time.perf_counter()
            step(model, ids)
            times[label].append(time.perf_counter() - start)

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, python {platform.python_version()}")
    print(f"CPU: {_cpu_name()}, {torch.get_num_threads()} torch threads")
    print(
        f"model: Llama-style, {n_params / 1e6:.1f}M parameters ({SHAPE['num_hidden_layers']} layers, hidden "
        f"{SHAPE['hidden_size']}, {SHAPE['num_attention_heads']} heads / {SHAPE['num_key_value_heads']} kv heads), fp32"
    )
    print(f"batch {args.batch} x seq {args.seq}, forward + backward, median of {args.steps} steps")
    print(f"loss: archsmith {loss_ours:.6f}, transformers {loss_hf:.6f}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for label, t in med.items():
        print(f"{label:13s} {t * 1000:8.1f} ms/step   (min {min(times[label]) * 1000:.1f} ms)")
    print(f"ratio archsmith / transformers: {med['archsmith'] / med['transformers']:.3f}")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
