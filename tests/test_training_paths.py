"""The training fast paths: fused q/k/v and gate/up projections, the chunked loss, a forward
without host syncs, and regional compilation (model/, hf/weights.py).

CPU tests; the GPU-only behaviour (no sync under CUDA's sync debug mode, the loss's peak memory,
inductor-compiled blocks) is at the end, skipped without CUDA.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from archsmith import ArchConfig, build_model
from archsmith.errors import InputError
from archsmith.hf.weights import from_hf_state, to_hf_state
from archsmith.model.ffn import ACTIVATIONS
from archsmith.model.transformer import IGNORE_INDEX, fused_next_token_loss, next_token_loss

TINY = dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
            initializer_range=0.2)  # fmt: skip


def model(**changes) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ArchConfig(**{**TINY, **changes})).eval()


def ids(batch: int = 2, seq: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, TINY["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(seed))


# --- fused projections --------------------------------------------------------------------------


@pytest.mark.parametrize("kv_heads", [4, 2, 1])  # MHA, GQA, MQA
@torch.no_grad()
def test_fused_qkv_equals_separate_projections_split_as_hf_stores_them(kv_heads):
    """One matmul on the fused weight gives what the three HF projections (split out by
    hf/weights.py) give: query head i reads KV head i // (heads / kv_heads)."""
    m = model(num_key_value_heads=kv_heads, qkv_bias=True, clip_qkv=0.5)
    state = to_hf_state(m.state_dict(), m.config, "qwen2")  # Llama's separate names, with q/k/v biases
    attn, x = m.layers[1].attn, torch.randn(2, 5, 32)
    q, k, v = attn._project(x)
    prefix = "model.layers.1.self_attn."
    for name, got in (("q_proj", q), ("k_proj", k), ("v_proj", v)):
        want = F.linear(x, state[prefix + name + ".weight"], state[prefix + name + ".bias"]).clamp(-0.5, 0.5)
        torch.testing.assert_close(got, want.view(2, 5, -1, 8), rtol=0, atol=1e-6)


@torch.no_grad()
def test_fused_gate_up_equals_separate_projections():
    m = model(mlp_bias=True, hidden_act="gelu_pytorch_tanh")
    state = to_hf_state(m.state_dict(), m.config, "llama")
    x = torch.randn(2, 5, 32)
    prefix = "model.layers.0.mlp."
    gate, up, down = (state[f"{prefix}{p}_proj.weight"] for p in ("gate", "up", "down"))
    gate_b, up_b, down_b = (state[f"{prefix}{p}_proj.bias"] for p in ("gate", "up", "down"))
    want = F.linear(ACTIVATIONS["gelu_pytorch_tanh"](F.linear(x, gate, gate_b)) * F.linear(x, up, up_b), down, down_b)
    torch.testing.assert_close(m.layers[0].mlp(x), want, rtol=0, atol=1e-6)


def test_fused_rows_are_grouped_per_kv_head_and_alternate_gate_and_up():
    """The fused layouts themselves (which tensor parallelism splits into whole groups): rows
    [kv_heads, (the group's query heads, key, value), head_dim] and gate_0, up_0, gate_1, ..."""
    m = model(num_key_value_heads=2)  # 2 query heads per KV head, head_dim 8
    state = {n: t.clone() for n, t in m.state_dict().items()}
    qkv = state["layers.0.attn.qkv_proj.weight"]
    qkv.copy_(torch.arange(qkv.shape[0])[:, None].float().expand_as(qkv))  # each row holds its index
    gate_up = state["layers.0.mlp.gate_up_proj.weight"]
    gate_up.copy_(torch.arange(gate_up.shape[0])[:, None].float().expand_as(gate_up))
    hf = to_hf_state(state, m.config, "llama")
    rows = {p: hf[f"model.layers.0.self_attn.{p}_proj.weight"][::8, 0].tolist() for p in "qkv"}  # first row of each head
    assert rows == {"q": [0, 8, 32, 40], "k": [16, 48], "v": [24, 56]}
    assert hf["model.layers.0.mlp.gate_proj.weight"][:3, 0].tolist() == [0, 2, 4]
    assert hf["model.layers.0.mlp.up_proj.weight"][:3, 0].tolist() == [1, 3, 5]


@pytest.mark.parametrize("model_type", ["llama", "phi3", "gpt_neox", "gpt2"])
def test_fused_weights_survive_every_hf_layout_exactly(model_type):
    """Separate tensors (Llama), HF's own fused ones in another row order (Phi-3's qkv_proj and
    gate_up_proj, NeoX's per-head query_key_value, GPT-2's transposed c_attn): back bit for bit."""
    plain = model_type in ("gpt_neox", "gpt2")
    m = model(mlp_type="plain", hidden_act="gelu") if plain else model(num_key_value_heads=2)
    state = m.state_dict()
    shapes = {n: tuple(t.shape) for n, t in state.items()}
    back = from_hf_state(to_hf_state(state, m.config, model_type), m.config, model_type, shapes)
    assert back.keys() == state.keys() and all(torch.equal(back[n], state[n]) for n in state)


# --- the loss -----------------------------------------------------------------------------------


def _reference_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    targets = F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)


@pytest.mark.parametrize("chunk", [11, 30, 1000, 2**28])  # one row, a few rows, an uneven last chunk, one chunk
def test_chunked_loss_and_gradient_equal_one_cross_entropy(chunk):
    logits = torch.randn(3, 7, 11, generator=torch.Generator().manual_seed(0), requires_grad=True)
    labels = torch.randint(0, 11, (3, 7), generator=torch.Generator().manual_seed(1))
    labels[0, 2] = labels[2, 5] = IGNORE_INDEX
    want = _reference_loss(logits, labels)
    (want_grad,) = torch.autograd.grad(want, logits)
    got = next_token_loss(logits, labels, chunk)
    (grad,) = torch.autograd.grad(got, logits)
    assert abs(got.item() - want.item()) <= 1e-6
    torch.testing.assert_close(grad, want_grad, rtol=0, atol=1e-7)


def test_eager_gate_up_runs_a_replaced_or_hooked_projection_as_itself():
    """Eagerly a plain gate_up_proj is two matmuls over its halves' rows (model/ffn.py); a hooked one
    (tensor parallelism's) or another class (an adapter) runs its own forward, with the same result
    as the plain path where it computes the same thing."""
    m = model(num_key_value_heads=2)
    mlp, x = m.layers[0].mlp, torch.randn(2, 5, m.config.hidden_size)
    plain, plain_weight = mlp(x), mlp.gate_up_proj.weight
    calls = []
    handle = mlp.gate_up_proj.register_forward_hook(lambda *_: calls.append(1))
    torch.testing.assert_close(mlp(x), plain, rtol=0, atol=1e-6)
    assert calls == [1]
    handle.remove()

    class Shifted(torch.nn.Linear):  # stands in for a LoRA or quantised linear
        def forward(self, h: torch.Tensor) -> torch.Tensor:
            calls.append(2)
            return super().forward(h) + 1.0

    shifted = Shifted(*reversed(mlp.gate_up_proj.weight.shape), bias=mlp.gate_up_proj.bias is not None)
    shifted.load_state_dict(mlp.gate_up_proj.state_dict())
    mlp.gate_up_proj = shifted
    assert (mlp(x) - plain).abs().max() > 0.01 and calls == [1, 2]

    for hook in ("register_full_backward_hook", "register_full_backward_pre_hook"):
        linear = torch.nn.Linear(*reversed(plain_weight.shape), bias=False)
        mlp.gate_up_proj = linear
        getattr(linear, hook)(lambda *_: calls.append(3))
        mlp(x.requires_grad_()).sum().backward()
    assert calls == [1, 2, 3, 3]

    mlp.gate_up_proj = torch.nn.Linear(*reversed(plain_weight.shape), bias=False)
    mlp.gate_up_proj.forward = lambda h: calls.append(4) or torch.zeros(*h.shape[:-1], plain_weight.shape[0])
    mlp(x)  # a forward replaced on the instance (accelerate's offloading hooks do this)
    assert calls[-1] == 4


def test_bf16_loss_gradient_rounds_once_even_for_confident_targets():
    """bf16 logits whose target probability is near 1: p - 1 is formed in float32 and rounded once
    (rounding p to bf16 first gives exactly 0 above p = 0.998), as float32 cross entropy's gradient
    rounded to bf16 would be; an ignored row's -inf logit does not make the loss NaN."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 512, (1, 1024), generator=g)
    logits = torch.randn(1, 1024, 512, generator=g).scatter_(2, labels.roll(-1, 1)[..., None], 12.0)
    logits = logits.bfloat16().requires_grad_()
    next_token_loss(logits, labels).backward()
    reference = logits.detach().float().requires_grad_()
    _reference_loss(reference, labels).backward()
    targets = labels[0, 1:, None]
    got, want = logits.grad[0, :-1].float().gather(1, targets), reference.grad[0, :-1].gather(1, targets)
    assert (got != 0).all()
    torch.testing.assert_close(got, want, rtol=2**-7, atol=0)  # two bf16 roundings (the softmax, the 1/N scale)

    logits = torch.randn(1, 4, 8, generator=g)
    logits[0, 1, 0] = float("-inf")  # row 1 predicts label 2, which is ignored
    labels = torch.tensor([[1, 2, IGNORE_INDEX, 4]])
    assert abs(next_token_loss(logits, labels).item() - _reference_loss(logits, labels).item()) <= 1e-6


def test_float16_loss_gradient_survives_a_loss_scale():
    """float16 logits under a loss scaler (loss x 65536): small probabilities keep their gradient,
    as torch's float32 cross entropy gives it rounded once to float16."""
    logits = torch.zeros(1, 2, 8, dtype=torch.float16)
    logits[0, 0, 1:] = -17.0  # p = 4e-8 for the seven non-target entries of row 0
    labels = torch.tensor([[5, 0]])
    logits.requires_grad_()
    (next_token_loss(logits, labels) * 65536.0).backward()
    reference = logits.detach().float().requires_grad_()
    (_reference_loss(reference, labels) * 65536.0).backward()
    torch.testing.assert_close(logits.grad, reference.grad.half(), rtol=2**-10, atol=0)


def test_the_loss_compile_blocks_compiles_equals_the_chunked_loss():
    logits = torch.randn(3, 7, 11, generator=torch.Generator().manual_seed(0), requires_grad=True)
    labels = torch.randint(0, 11, (3, 7), generator=torch.Generator().manual_seed(1))
    labels[0, 2] = labels[2, 5] = IGNORE_INDEX
    want = next_token_loss(logits, labels, 30)
    (want_grad,) = torch.autograd.grad(want, logits)
    got = fused_next_token_loss(logits, labels)
    (grad,) = torch.autograd.grad(got, logits)
    assert abs(got.item() - want.item()) <= 1e-6
    torch.testing.assert_close(grad, want_grad, rtol=0, atol=1e-7)


def test_the_loss_backward_neither_recomputes_nor_assembles_chunks_and_leaves_the_logits_alone():
    """One backward node for all chunks (their gradients were written in the forward pass, so nothing
    is recomputed or concatenated), and float32 logits are read, never overwritten."""
    logits = torch.randn(8, 16, 50, requires_grad=True)
    before = logits.detach().clone()
    loss = next_token_loss(logits, torch.randint(0, 50, (8, 16)), chunk=500)  # 13 chunks
    nodes, todo = [], [loss.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and node not in nodes:
            nodes.append(node)
            todo += [f for f, _ in node.next_functions]
    kinds = [type(n).__name__ for n in nodes]
    assert kinds.count("_ChunkedCrossEntropyBackward") == 1
    assert not {"SplitBackward0", "SliceBackward0", "CheckpointFunctionBackward"} & set(kinds)
    assert torch.equal(logits.detach(), before)


def test_the_loss_keeps_no_float32_logits_for_backward():
    """bf16 logits: the float32 log-softmax exists a chunk at a time, so the forward saves no float32
    tensor larger than one chunk (the unchunked loss saves all of it)."""
    logits = torch.randn(4, 16, 50, dtype=torch.bfloat16, requires_grad=True)
    labels = torch.randint(0, 50, (4, 16))
    chunk = 500  # 10 rows of 50

    def float32_saved(loss_fn) -> tuple[torch.Tensor, list[int]]:
        sizes = []

        def pack(t: torch.Tensor) -> torch.Tensor:
            if t.dtype == torch.float32:
                sizes.append(t.numel())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            return loss_fn(), sizes

    loss, sizes = float32_saved(lambda: next_token_loss(logits, labels, chunk))
    assert max(sizes, default=0) <= chunk
    unchunked, sizes = float32_saved(lambda: _reference_loss(logits, labels))
    assert max(sizes) == logits.numel()  # what the hook sees of the one-shot loss: its whole log-softmax
    loss.backward()
    assert abs(loss.item() - unchunked.item()) <= 1e-6


def test_model_loss_equals_cross_entropy_of_its_logits():
    m = model(num_key_value_heads=2, final_logit_softcapping=3.0)
    x = ids()
    out = m(x, labels=x)
    assert abs(out.loss.item() - _reference_loss(out.logits, x).item()) <= 1e-6


# --- no host syncs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        dict(num_key_value_heads=2, qk_norm="head", tie_word_embeddings=True),
        dict(attn_logit_softcapping=5.0, sliding_window=4, layer_types=("sliding_attention", "full_attention")),
        dict(position_embedding="learned", norm_type="layernorm", norm_bias=True, mlp_type="plain", hidden_act="gelu_new"),
        dict(position_embedding="alibi"),
    ],
    ids=["llama", "gemma2", "gpt2", "alibi"],
)
def test_training_step_runs_on_the_meta_device_without_checks(changes):
    """A meta tensor has no values, so any host sync (``.item()``, ``.tolist()``, ``bool()``)
    raises: with ``check_inputs=False`` a forward with labels and its backward read nothing back."""
    m = build_model(ArchConfig(**{**TINY, **changes}), device="meta")
    x = ids().to("meta")
    out = m(x, labels=x, check_inputs=False)
    out.loss.backward()
    assert out.logits.shape == (2, 8, 64) and m.lm_head.weight.grad is not None
    m.hidden_states(x, check_inputs=False)
    with pytest.raises((NotImplementedError, RuntimeError)):  # the range checks read values back
        m(x, labels=x)


def test_unchecked_inputs_still_get_the_free_checks():
    m = model()
    with pytest.raises(InputError, match="labels have shape"):
        m(ids(), labels=ids()[:, :4], check_inputs=False)
    with pytest.raises(InputError, match="outside the vocabulary"):
        m(ids() + 64)


# --- regional compilation -----------------------------------------------------------------------


def _compiled_graphs(layers: int, **changes) -> tuple[int, torch.nn.Module, torch.Tensor]:
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    m = model(num_hidden_layers=layers, **changes).train()
    x = ids()
    eager = m(x, labels=x)
    m.compile_blocks(backend="eager")  # dynamo's tracing without a code generator: fast, and no compiler needed
    out = m(x, labels=x, check_inputs=False)
    out.loss.backward()
    # atol 1e-5: compiled, gate and up are one matmul; eager, two (model/ffn.py), which round apart in fp32
    torch.testing.assert_close(out.logits, eager.logits, rtol=0, atol=1e-5)
    assert abs(out.loss.item() - eager.loss.item()) <= 1e-5  # the compiled loss (fused_next_token_loss)
    return counters["stats"]["unique_graphs"], m, out.loss


def test_compile_blocks_traces_each_kind_of_block_once_whatever_the_depth():
    pattern = dict(sliding_window=4)
    shallow, _, _ = _compiled_graphs(2, layer_types=("sliding_attention", "full_attention"), **pattern)
    deep, m, _ = _compiled_graphs(6, layer_types=("sliding_attention", "full_attention") * 3, **pattern)
    assert shallow == deep == 3  # one graph for the sliding blocks, one for the full ones, one for the loss
    assert "layers.0.attn.qkv_proj.weight" in m.state_dict()  # names (and checkpoints) unchanged
    assert all(p.grad is not None for p in m.parameters())


def test_a_model_with_compiled_blocks_pickles_as_an_uncompiled_one():
    """As nn.Module drops a compiled forward when pickled, the model drops its compiled loss."""
    import pickle

    m = model()
    m.compile_blocks(backend="eager")
    assert m.compiled_loss is not None
    copy = pickle.loads(pickle.dumps(m))
    assert copy.compiled_loss is None and m.compiled_loss is not None
    x = ids()
    torch.testing.assert_close(copy(x, labels=x).loss, m(x, labels=x).loss, rtol=0, atol=1e-5)


# --- on a GPU -----------------------------------------------------------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
def test_cuda_forward_with_loss_without_checks_never_syncs():
    """(The backward is left out: torch's own CUDA embedding backward reads a count back.)"""
    m = build_model(ArchConfig(**{**TINY, "num_key_value_heads": 2}), device="cuda", dtype="bf16")
    x = ids().cuda()
    m(x, labels=x, check_inputs=False).loss.backward()  # warm-up: lazy CUDA initialisation may sync
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss = m(x, labels=x, check_inputs=False).loss
    finally:
        torch.cuda.set_sync_debug_mode("default")
    loss.backward()
    with pytest.raises(RuntimeError, match="synchroniz"):  # the checks' one read-back is caught
        torch.cuda.set_sync_debug_mode("error")
        try:
            m(x, labels=x)
        finally:
            torch.cuda.set_sync_debug_mode("default")


@cuda
def test_cuda_chunked_loss_needs_well_under_the_memory_of_one_cross_entropy():
    """bf16 logits of 8 x 1024 x 32768 (512 MiB): the one-shot float32 cross entropy and its backward
    hold the float32 log-softmax and its float32 gradient (1 GiB each); the chunked loss holds its bf16
    gradient (written in the forward pass), its scaled copy and one 256 MiB float32 chunk's temporaries."""
    logits = torch.randn(8, 1024, 32768, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    labels = torch.randint(0, 32768, (8, 1024), device="cuda")

    def peak(loss_fn) -> int:
        logits.grad = None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        loss_fn().backward()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    one_shot = peak(lambda: _reference_loss(logits, labels))
    chunked = peak(lambda: next_token_loss(logits, labels, chunk=2**26))
    assert chunked < 0.7 * one_shot, f"chunked {chunked / 2**20:.0f} MiB, one-shot {one_shot / 2**20:.0f} MiB"


@cuda
def test_cuda_compiled_blocks_match_eager_in_bf16():
    """Inductor fuses and rounds differently from eager in bf16, so both are held against the same
    weights in fp32: the compiled blocks may not be much further from it than eager bf16 is."""
    cfg = ArchConfig(**{**TINY, "num_key_value_heads": 2, "num_hidden_layers": 4})
    m = build_model(cfg, device="cuda", dtype="bf16")
    reference = build_model(cfg, device="cuda")
    reference.load_state_dict({k: v.float() for k, v in m.state_dict().items()})
    x = ids().cuda()
    with torch.no_grad():
        exact = reference(x)
        eager_error = (m(x).float() - exact).abs().max()
        m.compile_blocks()
        compiled_error = (m(x, check_inputs=False).float() - exact).abs().max()
    assert eager_error < 0.1 and compiled_error <= 2 * eager_error + 1e-3, (eager_error, compiled_error)
