"""MLA batch-1 decode, generate(compile=True), long prompt: tokens/s. Run once per src (main / branch)."""
import sys, time, torch
from archsmith import ArchConfig
from archsmith.model import build_model
import os
DEV = os.environ.get("DEV", "cuda")
SYNC = torch.cuda.synchronize if DEV == "cuda" else (lambda: None)
label, prompt_len, new = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
cfg = ArchConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=8, num_attention_heads=16,
                 num_key_value_heads=None, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
                 max_position_embeddings=32768)
model = build_model(cfg, device=DEV, dtype=torch.bfloat16).eval()
ids = torch.randint(0, 32000, (1, prompt_len), device=DEV)
def run():
    SYNC(); t = time.perf_counter()
    out = model.generate(ids, max_new_tokens=new, compile=True)
    SYNC(); return time.perf_counter() - t, out
t0, out0 = run()
ts = []
for _ in range(3):
    t, out = run(); ts.append(t)
    assert torch.equal(out, out0), "replay differs"
print(f"MLA {label} prompt {prompt_len} new {new}: first {t0:.1f}s, calls {[round(x,3) for x in ts]} s, "
      f"{new / min(ts):.1f} tok/s (incl. prefill)", flush=True)
