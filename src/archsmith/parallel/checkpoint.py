"""Distributed checkpoints (``torch.distributed.checkpoint``) of a sharded model and its optimizer.

Every rank writes and reads only its own shards; a checkpoint saved on one layout loads
into another (DCP reshards), e.g. saved with FSDP on 8 GPUs, resumed with FSDP x TP on 16.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.checkpoint.stateful import Stateful


class _TrainState(Stateful):
    """Model and optimizer as DCP sees them: full parameter names, sharded values."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None):
        self.model, self.optimizer = model, optimizer

    def state_dict(self) -> dict:
        model, optim = get_state_dict(self.model, [] if self.optimizer is None else self.optimizer)
        return {"model": model} if self.optimizer is None else {"model": model, "optimizer": optim}

    def load_state_dict(self, state: dict) -> None:
        set_state_dict(self.model, [] if self.optimizer is None else self.optimizer,
                       model_state_dict=state["model"], optim_state_dict=state.get("optimizer", {}))


def save(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None, **extra) -> None:
    """Write a distributed checkpoint of ``model`` (and ``optimizer``) to directory ``path``;
    ``extra`` values (e.g. ``step=1000``) are saved beside them. Call on every rank."""
    dcp.save({"train": _TrainState(model, optimizer), **extra}, checkpoint_id=str(path))


def load(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None, **extra) -> dict:
    """Read a checkpoint written by :func:`save` into ``model`` (and ``optimizer``), in place.
    Pass the ``extra`` keys with placeholder values of their type; returns them as loaded."""
    state = {"train": _TrainState(model, optimizer), **extra}
    dcp.load(state, checkpoint_id=str(path))
    return {k: state[k] for k in extra}
