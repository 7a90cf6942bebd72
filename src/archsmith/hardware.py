"""Accelerators as data: memory, dense bf16 tensor throughput and memory bandwidth.

No torch: the designer and the budget arithmetic read these numbers without touching a device.

Conventions, the same for every entry:

- ``memory_bytes`` is the vendor's stated capacity read in decimal units (80 GB = 80e9 bytes). That is
  conservative: HBM parts are sized in binary units, so the driver reports more. Measured: an H200
  ("141 GB") shows 143,771 MiB = 150.8e9 bytes in nvidia-smi, 7% above 141e9; a process gets a little
  less than the driver's total, but still more than the decimal figure.
- ``bf16_dense_flops`` is peak bf16 tensor-core throughput *without* 2:4 structured sparsity. Vendors
  print the sparse figure first (twice the dense one); we halve it where only that is printed.
  Where a card runs bf16 at two rates, it is the rate with fp32 accumulation, which training uses.
- ``hbm_bytes_per_s`` is the peak bandwidth of the card's main memory (GDDR on the L40S, A10(G) and
  RTX 4090, which have no HBM), in decimal bytes per second.
- ``source`` is where the numbers come from: the vendor datasheet wherever one exists.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .config import closest_name
from .errors import ConfigError


@dataclass(frozen=True)
class GPU:
    """One accelerator. Memory in decimal bytes as the vendor states it; FLOP/s dense bf16."""

    name: str
    memory_bytes: int
    bf16_dense_flops: float
    hbm_bytes_per_s: float
    source: str

    def to_dict(self) -> dict[str, int | float | str]:
        return asdict(self)


GPUS: dict[str, GPU] = {
    gpu.name: gpu
    for gpu in (
        # A100 datasheet: BF16 tensor 312 TFLOPS (624 with sparsity); 80 GB HBM2e at 2,039 GB/s (SXM).
        GPU(
            "a100",
            80 * 10**9,
            312e12,
            2039e9,
            "NVIDIA A100 80GB SXM datasheet: https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/"
            "a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
        ),
        # Same datasheet, 40 GB HBM2 at 1,555 GB/s; the same tensor cores.
        GPU(
            "a100-40gb",
            40 * 10**9,
            312e12,
            1555e9,
            "NVIDIA A100 40GB SXM datasheet: https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/"
            "a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
        ),
        # H100 SXM: BF16 1,979 TFLOPS with sparsity -> 989 dense; 80 GB HBM3 at 3.35 TB/s.
        GPU(
            "h100",
            80 * 10**9,
            989e12,
            3.35e12,
            "NVIDIA H100 SXM datasheet (1,979 TFLOPS bf16 is with sparsity; halved): "
            "https://www.nvidia.com/en-us/data-center/h100/",
        ),
        # H100 PCIe: BF16 1,513 TFLOPS with sparsity -> 756 dense; 80 GB HBM2e at 2 TB/s.
        GPU(
            "h100-pcie",
            80 * 10**9,
            756e12,
            2.0e12,
            "NVIDIA H100 PCIe datasheet (1,513 TFLOPS bf16 is with sparsity; halved): "
            "https://www.nvidia.com/en-us/data-center/h100/",
        ),
        # H200 SXM: the H100's tensor cores (1,979 sparse -> 989 dense) with 141 GB HBM3e at 4.8 TB/s.
        GPU(
            "h200",
            141 * 10**9,
            989e12,
            4.8e12,
            "NVIDIA H200 SXM datasheet (1,979 TFLOPS bf16 is with sparsity; halved): "
            "https://www.nvidia.com/en-us/data-center/h200/",
        ),
        # HGX B200 (8 GPUs): FP16/BF16 36 PFLOPS with sparsity -> 2.25 PFLOPS dense per GPU;
        # 1,440 GB HBM3e in all -> 180 GB per GPU; 64 TB/s in all -> 8 TB/s per GPU.
        GPU(
            "b200",
            180 * 10**9,
            2.25e15,
            8.0e12,
            "NVIDIA HGX B200 / DGX B200 specifications divided by 8 GPUs (36 PFLOPS bf16 with sparsity, "
            "1,440 GB, 64 TB/s): https://www.nvidia.com/en-us/data-center/hgx/",
        ),
        # L40S: BF16 tensor 362.05 TFLOPS (733 with sparsity); 48 GB GDDR6 at 864 GB/s.
        GPU(
            "l40s",
            48 * 10**9,
            362.05e12,
            864e9,
            "NVIDIA L40S datasheet: https://www.nvidia.com/en-us/data-center/l40s/",
        ),
        # A10: BF16 tensor 125 TFLOPS (250 with sparsity); 24 GB GDDR6 at 600 GB/s.
        GPU(
            "a10",
            24 * 10**9,
            125e12,
            600e9,
            "NVIDIA A10 datasheet: https://www.nvidia.com/en-us/data-center/products/a10-gpu/",
        ),
        # A10G is AWS's variant of the A10 (G5 instances); NVIDIA publishes no datasheet for it. It has
        # the A10's memory but lower tensor throughput: about 70 TFLOPS bf16 dense as third parties
        # report it. Less certain than the other entries.
        GPU(
            "a10g",
            24 * 10**9,
            70e12,
            600e9,
            "no vendor datasheet; third-party comparison (tensor ~70 TFLOPS bf16, 24 GB, 600 GB/s): "
            "https://www.baseten.co/blog/nvidia-a10-vs-a10g-for-ml-model-inference/",
        ),
        # RTX 4090 (Ada whitepaper, appendix): BF16 tensor with FP32 accumulate 165.2 TFLOPS dense
        # (330.4 with sparsity); 82.6 TFLOPS is its non-tensor FP32 rate, not a bf16 figure.
        # 24 GB GDDR6X at 1,008 GB/s.
        GPU(
            "rtx4090",
            24 * 10**9,
            165.2e12,
            1008e9,
            "NVIDIA Ada GPU architecture whitepaper, appendix table for GeForce RTX 4090: "
            "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf",
        ),
        # MI300X: BF16 1,307.4 TFLOPS dense (2,614.9 with sparsity); 192 GB HBM3 at 5.3 TB/s.
        GPU(
            "mi300x",
            192 * 10**9,
            1307.4e12,
            5.3e12,
            "AMD Instinct MI300X datasheet: https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html",
        ),
    )
}

# Other spellings people use for the same parts (after lower-casing, '_' and ' ' -> '-', and dropping a
# vendor prefix). Form factors that change the numbers (a100-40gb, h100-pcie) are entries, not aliases.
ALIASES: dict[str, str] = {
    "a100-80gb": "a100",
    "a100-sxm": "a100",
    "a100-sxm4": "a100",
    "a100-sxm4-80gb": "a100",
    "a100-sxm-80gb": "a100",
    "a100-sxm4-40gb": "a100-40gb",
    "a100-40g": "a100-40gb",
    "h100-sxm": "h100",
    "h100-sxm5": "h100",
    "h100-80gb": "h100",
    "h100-sxm-80gb": "h100",
    "h200-sxm": "h200",
    "h200-141gb": "h200",
    "b200-sxm": "b200",
    "rtx-4090": "rtx4090",
    "4090": "rtx4090",
    "instinct-mi300x": "mi300x",
}

_VENDOR_PREFIXES = ("nvidia-", "amd-", "geforce-", "tesla-")


def normalize_gpu_name(name: str) -> str:
    """'NVIDIA H100_SXM' -> 'h100-sxm': lower case, '-' for '_' and spaces, no vendor prefix."""
    key = "-".join(name.strip().lower().replace("_", " ").split())
    changed = True
    while changed:  # "nvidia-geforce-rtx-4090" drops both prefixes
        changed = False
        for prefix in _VENDOR_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def get_gpu(name: str | GPU) -> GPU:
    """The GPU named ``name`` (case-insensitive; aliases such as ``H100``, ``h100-sxm``, ``nvidia-h100``)."""
    if isinstance(name, GPU):
        return name
    if not isinstance(name, str):
        raise ConfigError(
            f"gpu={name!r} is not a GPU name; fix: give one of {', '.join(GPUS)}"
        )
    key = normalize_gpu_name(name)
    key = ALIASES.get(key, key)
    if key in GPUS:
        return GPUS[key]
    guess = closest_name(key, [*GPUS, *ALIASES])
    hint = f"did you mean {ALIASES.get(guess, guess)!r}? " if guess else ""
    raise ConfigError(f"gpu={name!r} is not known; fix: {hint}use one of {', '.join(GPUS)}")
