"""Worker side of tests/test_parallel.py: what each rank of a gloo job on CPU runs.

Every rank also builds the single-process reference (tiny fp32 models), so each check
compares a sharded run with one process's run of the same seed and data.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor
from torch.distributed.tensor.parallel import loss_parallel

from archsmith import ArchConfig, build_model
import archsmith
from archsmith.model import transformer
from archsmith.parallel import device_mesh, load_hf, parallelize, to_hf
from archsmith.sharding import gpu_memory

TOL = 1e-5
SEED = 0
BATCH, SEQ = 4, 8  # the batch splits over 1, 2 or 4 FSDP ranks; the sequence over 1, 2 or 4 TP ranks

_COMMON = dict(vocab_size=128, hidden_size=64, num_hidden_layers=2, intermediate_size=96, max_position_embeddings=32,
               initializer_range=0.2)  # fmt: skip
CONFIGS = {
    # GQA with 2 KV heads (replicated at TP=4), Qwen3's per-head qk-norm, untied head
    "llama": ArchConfig(**_COMMON, num_attention_heads=4, num_key_value_heads=2, qk_norm="head", tie_word_embeddings=False),
    # softcapped attention and logits, sliding and full layers, sandwich norms, (1 + w) norms, scaled tied embedding
    "gemma2": ArchConfig(
        **_COMMON, num_attention_heads=4, num_key_value_heads=2, head_dim=32, attn_logit_softcapping=50.0,
        final_logit_softcapping=30.0, sliding_window=4, layer_types=("sliding_attention", "full_attention"),
        norm_scheme="peri", norm_unit_offset=True, norm_weight_in_fp32=True, scale_embeddings=True,
        hidden_act="gelu_pytorch_tanh", tie_word_embeddings=True,
    ),  # fmt: skip
    # learned positions, LayerNorm with bias, biases everywhere, plain GELU MLP, MHA, tied head
    "gpt2": ArchConfig(
        **_COMMON, num_attention_heads=4, position_embedding="learned", norm_type="layernorm", norm_bias=True,
        qkv_bias=True, attn_out_bias=True, mlp_bias=True, mlp_type="plain", hidden_act="gelu_new",
        tie_word_embeddings=True,
    ),  # fmt: skip
}


# 4 routed experts, top-2, with a shared expert (Qwen2-MoE-like); the first layer keeps its dense MLP
MOE = ArchConfig(**_COMMON, num_attention_heads=4, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
                 moe_intermediate_size=32, n_shared_experts=1, first_k_dense_replace=1, tie_word_embeddings=False)  # fmt: skip


def run(rank: int, world: int, port: int, case: str, tmp: str) -> None:
    """torch.multiprocessing.spawn target: join the gloo job, run ``case``, leave."""
    torch.set_num_threads(1)
    # The loss in chunks of 5 positions (the last one shorter), so that the vocabulary-split logits of
    # loss_parallel go through the chunked cross entropy as a large vocabulary's would.
    transformer.LOSS_CHUNK = 5 * 128
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    globals()[case](Path(tmp))
    dist.barrier()  # leave together: a rank that tears its connections down early can abort the others
    dist.destroy_process_group()


def _batch(cfg: ArchConfig) -> torch.Tensor:
    return torch.randint(0, cfg.vocab_size, (BATCH, SEQ), generator=torch.Generator().manual_seed(1))


def _reference(cfg: ArchConfig) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(SEED)
    model = build_model(cfg)
    out = model(_batch(cfg), labels=_batch(cfg))
    out.loss.backward()
    return model, out.loss.detach(), out.logits.detach()


def _sharded(cfg: ArchConfig, dp: int, tp: int, seed: int = SEED) -> tuple[torch.nn.Module, object]:
    """Meta build -> parallelize -> to_empty -> init_weights from ``seed``."""
    mesh = device_mesh("cpu", tp=tp)
    model = build_model(cfg, device="meta")
    parallelize(model, mesh if dp > 1 and tp > 1 else mesh["tp" if tp > 1 else "dp"], tp=tp > 1, fsdp=dp > 1,
                param_dtype=None, reduce_dtype=None)  # fmt: skip
    model.to_empty(device="cpu")
    torch.manual_seed(seed)
    model.init_weights()
    return model, mesh


def _full(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if isinstance(t, DTensor) else t


def _close(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    diff = (a - b).abs().max().item()
    assert diff <= TOL, f"{what}: max |difference| {diff:.3g} > {TOL}"


def _step(model, mesh, cfg: ArchConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and logits of this rank's share of the batch (FSDP splits it over "dp")."""
    dp = mesh["dp"]
    rows = BATCH // dp.size()
    ids = _batch(cfg)[dp.get_local_rank() * rows : (dp.get_local_rank() + 1) * rows]
    with loss_parallel():
        out = model(ids, labels=ids)
        out.loss.backward()
    return _full(out.loss.detach()), _full(out.logits.detach())


def parity(tmp: Path) -> None:
    """Every layout the world size allows, and expert parallelism: initial weights, loss, logits
    and gradients equal the single-process run's."""
    world = dist.get_world_size()
    expert_parallel(tmp)
    layouts = [(world, 1), (1, world)] + ([(2, 2)] if world == 4 else [])
    for name, cfg in CONFIGS.items():
        ref, ref_loss, ref_logits = _reference(cfg)
        ref_params = dict(ref.named_parameters())
        for dp, tp in layouts:
            label = f"{name} dp={dp} tp={tp}"
            model, mesh = _sharded(cfg, dp, tp)
            local = sum(p.to_local().numel() if isinstance(p, DTensor) else p.numel() for p in model.parameters())
            assert local == gpu_memory(cfg, dp, tp, SEQ).params_per_gpu, f"{label}: sharding.py's parameters per GPU"
            for n, p in model.named_parameters():
                assert torch.equal(_full(p.detach()), ref_params[n].detach()), f"{label}: initial {n} differs"
            loss, logits = _step(model, mesh, cfg)
            mean = loss.clone()  # the reference loss is the mean over the dp shares (tp ranks agree)
            dist.all_reduce(mean)
            _close(mean / world, ref_loss, f"{label}: loss")
            rows = BATCH // dp
            start = mesh["dp"].get_local_rank() * rows
            _close(logits, ref_logits[start : start + rows], f"{label}: logits")
            for n, p in model.named_parameters():
                _close(_full(p.grad), ref_params[n].grad, f"{label}: gradient of {n}")


def _hf_tensors(directory: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {n: t for f in sorted(directory.glob("*.safetensors")) for n, t in load_file(str(f)).items()}


def checkpoints(tmp: Path) -> None:
    """On a 2 x 2 (dp x tp) mesh: an HF checkpoint loads into the sharded model as one process
    loads it, the sharded export writes the single-process export's tensors, and a DCP
    checkpoint resumes (same layout) and reshards (into FSDP over all four ranks)."""
    from archsmith.parallel import load, save

    rank = dist.get_rank()
    for name in ("llama", "gpt2"):  # names as they are, and GPT-2's fused, transposed c_attn
        cfg = CONFIGS[name]
        torch.manual_seed(SEED)
        ref = build_model(cfg)
        with torch.no_grad():  # every weight away from its init (norms start at exactly 1)
            for p in ref.parameters():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.1)
        if rank == 0:
            archsmith.to_hf(ref, tmp / f"{name}-ref")
        dist.barrier()

        model, mesh = _sharded(cfg, 2, 2, seed=SEED + 1)
        load_hf(model, tmp / f"{name}-ref")
        for n, p in model.named_parameters():
            assert torch.equal(_full(p.detach()), dict(ref.named_parameters())[n].detach()), f"{name}: loaded {n} differs"

        to_hf(model, tmp / f"{name}-sharded", max_shard_bytes=20_000)  # several shards and an index
        if rank == 0:
            single, sharded = _hf_tensors(tmp / f"{name}-ref"), _hf_tensors(tmp / f"{name}-sharded")
            assert single.keys() == sharded.keys() and all(torch.equal(single[n], sharded[n]) for n in single)
            assert (tmp / f"{name}-sharded" / "model.safetensors.index.json").is_file()
            for meta in ("config.json", "archsmith.json", "generation_config.json"):
                assert (tmp / f"{name}-ref" / meta).read_text() == (tmp / f"{name}-sharded" / meta).read_text()

    # DCP: train one step, save model + optimizer + step, resume, and step again in both.
    cfg = CONFIGS["gemma2"]
    model, mesh = _sharded(cfg, 2, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _step(model, mesh, cfg)
    optimizer.step()
    optimizer.zero_grad()
    save(tmp / "dcp", model, optimizer, step=torch.tensor(1))
    ids = _batch(cfg)
    with torch.no_grad(), loss_parallel():
        saved_logits = _full(model(ids))  # the whole batch, on every rank
    _, logits = _step(model, mesh, cfg)

    resumed, _ = _sharded(cfg, 2, 2, seed=SEED + 1)  # other weights: only the load can make them equal
    resumed_optimizer = torch.optim.AdamW(resumed.parameters(), lr=1e-2)
    extra = load(tmp / "dcp", resumed, resumed_optimizer, step=torch.tensor(0))
    assert extra["step"].item() == 1
    _, resumed_logits = _step(resumed, mesh, cfg)
    _close(resumed_logits, logits, "DCP resume: logits")
    optimizer.step()
    resumed_optimizer.step()
    for (n, p), q in zip(model.named_parameters(), resumed.parameters()):
        _close(_full(q.detach()), _full(p.detach()), f"DCP resume: {n} after one more step")

    fsdp_only, _ = _sharded(cfg, 4, 1, seed=SEED + 2)  # another layout: DCP reshards on load
    load(tmp / "dcp", fsdp_only)
    with torch.no_grad():
        _close(fsdp_only(ids), saved_logits, "DCP load into FSDP x 4: logits")


def expert_parallel(tmp: Path) -> None:
    """Experts split over every rank (ep = world) on top of FSDP: initial weights, loss and
    gradients equal one process's; experts and tokens really are distributed."""
    world = dist.get_world_size()
    cfg = MOE
    ref, ref_loss, _ = _reference(cfg)
    ref_params = dict(ref.named_parameters())
    mesh = device_mesh("cpu")
    model = build_model(cfg, device="meta")
    parallelize(model, mesh["dp"], fsdp=True, ep=True, param_dtype=None, reduce_dtype=None)
    model.to_empty(device="cpu")
    torch.manual_seed(SEED)
    model.init_weights()
    experts = model.layers[1].mlp.experts
    assert experts.down_proj.to_local().shape[0] == cfg.num_experts // world
    local = sum(p.to_local().numel() for p in model.parameters())
    assert local == gpu_memory(cfg, world, 1, SEQ, ep=world).params_per_gpu, "sharding.py's parameters per GPU"
    # HF round trip with the experts split: the export equals one process's, and loads back.
    if dist.get_rank() == 0:
        archsmith.to_hf(ref, tmp / "moe-ref")
    to_hf(model, tmp / "moe-sharded")
    if dist.get_rank() == 0:
        single, sharded = _hf_tensors(tmp / "moe-ref"), _hf_tensors(tmp / "moe-sharded")
        assert single.keys() == sharded.keys() and all(torch.equal(single[n], sharded[n]) for n in single)
    dist.barrier()
    model.to_empty(device="cpu")  # garbage, so that only the load can make the weights right
    load_hf(model, tmp / "moe-sharded")
    for n, p in model.named_parameters():
        assert torch.equal(_full(p.detach()), ref_params[n].detach()), f"ep={world}: {n} after load_hf"
    for n, p in model.named_parameters():
        assert torch.equal(_full(p.detach()), ref_params[n].detach()), f"ep={world}: initial {n} differs"
    loss, _ = _step(model, mesh, cfg)
    mean = loss.clone()
    dist.all_reduce(mean)
    _close(mean / world, ref_loss, f"ep={world}: loss")
    for n, p in model.named_parameters():
        _close(_full(p.grad), ref_params[n].grad, f"ep={world}: gradient of {n}")
