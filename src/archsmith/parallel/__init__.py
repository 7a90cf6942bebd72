"""Train a model larger than one GPU on PyTorch's own engine.

FSDP2 (``fully_shard``), DTensor tensor parallelism (``parallelize_module``) on a
``DeviceMesh``, and ``torch.distributed.checkpoint``; archsmith only supplies the plan::

    mesh = device_mesh("cuda", tp=2)                  # ("dp", "tp") over every rank
    model = build_model(cfg, device="meta")
    parallelize(model, mesh, tp=True, fsdp=True)
    model.to_empty(device="cuda"); model.init_weights()   # = one process's weights, same seed

``load_hf`` fills a sharded model from an HF checkpoint (each rank reads its slices),
``save`` / ``load`` are distributed checkpoints of model and optimizer, and ``to_hf``
exports a sharded model one gathered tensor at a time.
"""

from .api import device_mesh, parallelize
from .checkpoint import load, save
from .hf import load_hf, to_hf

__all__ = ["device_mesh", "load", "load_hf", "parallelize", "save", "to_hf"]
