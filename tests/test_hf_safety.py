"""from_hf refuses what it cannot load safely or exactly, with errors that name the file or tensor."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from archsmith import ArchConfig, LoadError, UnsupportedError
from archsmith.hf.convert import from_hf, to_hf
from archsmith.model import build_model
from hf_testing import TINY


@pytest.fixture
def exported(tmp_path):
    """A small llama export: (directory, its tensors)."""
    model = build_model(ArchConfig(**TINY, tie_word_embeddings=False))
    to_hf(model, tmp_path / "m")
    return tmp_path / "m", load_file(tmp_path / "m" / "model.safetensors")


def _rewrite(directory, tensors):
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})


def test_pickle_checkpoint_is_refused_unless_allowed(exported):
    directory, tensors = exported
    (directory / "model.safetensors").unlink()
    torch.save(tensors, directory / "pytorch_model.bin")
    with pytest.raises(LoadError, match="pickle.*allow_pickle=True.*--allow-pickle"):
        from_hf(directory)
    model = from_hf(directory, allow_pickle=True)
    assert torch.equal(model.embed_tokens.weight, tensors["model.embed_tokens.weight"])


def test_pickle_is_read_weights_only(exported, tmp_path):
    directory, tensors = exported
    (directory / "model.safetensors").unlink()

    class Payload:  # unpickling this would call os.system under a full torch.load
        def __reduce__(self):
            import os

            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"model.embed_tokens.weight": Payload()}, directory / "pytorch_model.bin")
    with pytest.raises(LoadError, match="weights-only"):
        from_hf(directory, allow_pickle=True)
    assert not (tmp_path / "pwned").exists()


def test_truncated_safetensors_names_the_file_and_tensor(exported):
    directory, _ = exported
    path = directory / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(LoadError, match=r"model\.safetensors is truncated: tensor \S+ needs bytes"):
        from_hf(directory)


def test_file_cut_inside_the_header(exported):
    directory, _ = exported
    path = directory / "model.safetensors"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(LoadError, match="truncated or not a safetensors file"):
        from_hf(directory)


def test_corrupt_header(exported):
    directory, _ = exported
    path = directory / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:12] = b"\xff\xfe{{"
    path.write_bytes(bytes(data))
    with pytest.raises(LoadError, match="corrupt header"):
        from_hf(directory)


def test_missing_tensor_is_named(exported):
    directory, tensors = exported
    del tensors["model.layers.1.mlp.up_proj.weight"]
    _rewrite(directory, tensors)
    with pytest.raises(LoadError, match=r"tensor model\.layers\.1\.mlp\.up_proj\.weight is missing"):
        from_hf(directory)


def test_wrong_shape_is_named(exported):
    directory, tensors = exported
    tensors["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(32, 64)
    _rewrite(directory, tensors)
    with pytest.raises(LoadError, match=r"tensor model\.layers\.0\.self_attn\.k_proj\.weight has shape \(32, 64\).*\(64, 64\)"):
        from_hf(directory)


def test_integer_tensor_is_refused(exported):
    directory, tensors = exported
    tensors["model.norm.weight"] = torch.ones(64, dtype=torch.int64)
    _rewrite(directory, tensors)
    with pytest.raises(LoadError, match=r"tensor model\.norm\.weight has dtype torch\.int64"):
        from_hf(directory)


def test_unexpected_tensor_is_named(exported):
    directory, tensors = exported
    tensors["model.layers.2.mlp.up_proj.weight"] = torch.zeros(96, 64)  # a third layer config.json does not have
    _rewrite(directory, tensors)
    with pytest.raises(LoadError, match=r"tensor model\.layers\.2\.mlp\.up_proj\.weight .* no place"):
        from_hf(directory)


def test_missing_shard_is_named(tmp_path):
    to_hf(build_model(ArchConfig(**TINY)), tmp_path / "m", max_shard_bytes=40_000)
    shard = sorted((tmp_path / "m").glob("model-*.safetensors"))[-1]
    shard.unlink()
    with pytest.raises(LoadError, match=f"{shard.name}, which is missing"):
        from_hf(tmp_path / "m")


def test_unsupported_model_type_lists_the_supported_ones(exported):
    directory, _ = exported
    config = json.loads((directory / "config.json").read_text())
    config["model_type"] = "t5"
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedError, match="'t5' cannot be imported; supported model types: llama, mistral"):
        from_hf(directory)


def test_directory_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(LoadError, match="has no weights"):
        from_hf(tmp_path)


def test_deepseek_multi_token_prediction_layer_is_ignored_as_transformers_does(tmp_path):
    """DeepSeek-V3 checkpoints carry the MTP module as one layer past the last (model.layers.61.*),
    which transformers' class neither builds nor loads; any other stray tensor is still refused."""
    mla = dict(kv_lora_rank=16, qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10, rope_interleaved=True)
    model = build_model(ArchConfig(**TINY, **mla, tie_word_embeddings=False))
    to_hf(model, tmp_path / "m")
    tensors = load_file(tmp_path / "m" / "model.safetensors")
    tensors["model.layers.2.eh_proj.weight"] = torch.zeros(64, 128)
    tensors["model.layers.2.self_attn.kv_b_proj.weight"] = torch.zeros(88, 16)
    _rewrite(tmp_path / "m", tensors)
    loaded = from_hf(tmp_path / "m")
    assert torch.equal(loaded.layers[1].attn.kv_b_proj.weight, model.layers[1].attn.kv_b_proj.weight)

    tensors["model.layers.1.eh_proj.weight"] = torch.zeros(64, 128)
    _rewrite(tmp_path / "m", tensors)
    with pytest.raises(LoadError, match=r"tensor model\.layers\.1\.eh_proj\.weight .* no place"):
        from_hf(tmp_path / "m")
