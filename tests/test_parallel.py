"""archsmith.parallel on CPU: gloo jobs of 2 and 4 processes (FSDP, TP, FSDP x TP, expert parallel)
against one process's run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from parallel_cases import run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _job(world: int, case: str, tmp_path) -> None:
    mp.spawn(run, args=(world, _free_port(), case, str(tmp_path)), nprocs=world, join=True)


@pytest.mark.parametrize("world", [2, 4])
def test_sharded_init_loss_logits_and_gradients_equal_one_process(world, tmp_path):
    _job(world, "parity", tmp_path)


def test_hf_load_export_and_distributed_checkpoints_on_a_2x2_mesh(tmp_path):
    _job(4, "checkpoints", tmp_path)


def _readme_loop() -> str:
    """The first python block of the README's "Train a design at scale" section."""
    text = (Path(__file__).parent.parent / "README.md").read_text()
    section = text.split("## Train a design at scale", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_training_loop_runs_and_exports(tmp_path):
    """The README's loop itself, under torchrun: FSDP x TP over 2 gloo processes, a tiny config."""
    from archsmith import ArchConfig, from_hf

    cfg = ArchConfig(vocab_size=128, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, intermediate_size=96, max_position_embeddings=2048)  # fmt: skip
    cfg.save(tmp_path / "tiny.json")
    (tmp_path / "train.py").write_text(_readme_loop())
    env = {**os.environ, "CONFIG": str(tmp_path / "tiny.json"), "TP": "2", "STEPS": "2", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(sys.path)}  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(_free_port())]
    done = subprocess.run([*torchrun, "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, "\n".join(l for l in done.stderr.splitlines() if "redistribut" not in l)[-6000:]
    assert (tmp_path / "checkpoint" / ".metadata").is_file()
    exported = from_hf(tmp_path / "exported")
    assert exported.config.replace(torch_dtype=None) == cfg.replace(torch_dtype=None)


def test_hf_units_split_a_checkpoint_into_pieces_that_convert_alone():
    """What the sharded reader and writer walk: fused q/k/v with their packed tensor, a stacked
    expert tensor with its one tensor per expert (Mixtral), renamed tensors alone; each piece
    unpacks to exactly what the whole-checkpoint conversion gives. archsmith's own fused qkv_proj
    and gate_up_proj are one tensor each in Phi-3 too, but with rows in another order: not as is."""
    import torch

    from archsmith import ArchConfig, build_model
    from archsmith.hf.weights import from_hf_state, hf_units, stored_as_is, to_hf_state, unpack_hf_tensors

    moe = ArchConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                     intermediate_size=64, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                     norm_topk_prob=True)  # fmt: skip
    gpt2 = ArchConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                      position_embedding="learned", norm_type="layernorm", norm_bias=True, qkv_bias=True,
                      attn_out_bias=True, mlp_bias=True, mlp_type="plain", hidden_act="gelu_new")  # fmt: skip
    phi3 = ArchConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                      intermediate_size=64)  # fmt: skip
    for cfg, model_type in ((moe, "mixtral"), (gpt2, "gpt2"), (phi3, "phi3")):
        torch.manual_seed(0)
        state = build_model(cfg).state_dict()
        shapes = {n: tuple(t.shape) for n, t in state.items()}
        hf = to_hf_state(state, cfg, model_type)
        whole = from_hf_state(hf, cfg, model_type, shapes)
        units = hf_units(cfg, model_type, shapes)
        assert sorted(h for _, hf_names in units for h in hf_names) == sorted(hf)
        for params, hf_names in units:
            part = unpack_hf_tensors({h: hf[h] for h in hf_names}, cfg, model_type, params, shapes)
            assert all(torch.equal(part[n], whole[n]) for n in params)
            if stored_as_is(model_type, params, hf_names):
                assert torch.equal(hf[hf_names[0]], state[params[0]])
        by_param = {p: hf_names for params, hf_names in units for p in params}
        if model_type == "mixtral":
            assert len(by_param["layers.0.mlp.experts.gate_up_proj"]) == 2 * cfg.num_experts  # w1 and w3 per expert
        elif model_type == "gpt2":
            assert by_param["layers.0.attn.qkv_proj.weight"] == ["transformer.h.0.attn.c_attn.weight"]
        else:
            for param, hf_name in (("attn.qkv_proj", "self_attn.qkv_proj"), ("mlp.gate_up_proj", "mlp.gate_up_proj")):
                hf_names = [f"model.layers.0.{hf_name}.weight"]
                assert by_param[f"layers.0.{param}.weight"] == hf_names
                assert not stored_as_is(model_type, [f"layers.0.{param}.weight"], hf_names)
