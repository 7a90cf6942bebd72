"""archsmith.parallel on CPU: gloo jobs of 2 and 4 processes against one process's run."""

from __future__ import annotations

import socket

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
