"""Kernel-level measurements behind the bf16 CPU attention (``uniclass.backends.cpu_attention``), issue 13.

Two tables, each timed in ``--rounds`` interleaved rounds (every variant once per round, medians reported), so
that this machine's speed swings hit all variants alike:

1. **Length alignment**: torch's CPU flash-attention kernel (``F.scaled_dot_product_attention``), bf16 and fp32,
   12 heads of 32 (MiniLM-L6), about 8,192 tokens per call, at key lengths around the dev mix's (262, 300...)
   and at multiples of 32. GFLOP/s counts the two matmuls (4·B·H·L²·D).
2. **Batch layouts** for one padded batch of real lengths (``lo``..``hi``): what transformers does now (one call,
   materialised ``[B, 1, L, L]`` mask), one call on the batch padded to a multiple of 32 with a ``[B, 1, 1, L]``
   key mask, the unmasked padded call (a lower bound that is not correct with padding), and one call per
   sequence on its exact length, and uniclass' ``padded_sdpa`` (rows grouped by their 32-aligned length).
3. **Linear kernels** (why int8 cannot reach issue 13's 8x here): MiniLM's four linear shapes at 8,192 rows, bf16
   through oneDNN's fused linear (what ``precision="bf16"`` runs) against int8 through oneDNN's AMX/VNNI
   ``onednn.qlinear_pointwise`` (per-channel int8 weights, prepacked), once with uint8 activations already
   quantized (the kernel alone: a bound for a fully static int8 graph) and once quantizing the bf16 activations
   per tensor first (what a dynamic recipe pays).

Reproduce::

    python benchmarks/attention_kernels.py --rounds 5 --out benchmarks/results/speed/attention_kernels.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from uniclass.backends.cpu_attention import padded_sdpa
from uniclass_lab.bench.common import run_header

HEADS, HEAD_DIM = 12, 32
LENGTHS = (64, 100, 128, 256, 262, 288, 300, 320, 384, 448, 511, 512)
LAYOUT_CASES = ((32, 40, 70), (25, 290, 316), (19, 330, 421), (16, 480, 512))


def _rounds(variants: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per variant over ``rounds`` interleaved rounds (after one warm-up call each)."""
    for fn in variants.values():
        fn()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}


def alignment_table(rounds: int) -> list[dict[str, object]]:
    rows = []
    for length in LENGTHS:
        batch = max(1, 8192 // length)
        generator = torch.Generator().manual_seed(length)
        q, k, v = (torch.randn(batch, HEADS, length, HEAD_DIM, generator=generator) for _ in range(3))
        low = [t.to(torch.bfloat16) for t in (q, k, v)]
        medians = _rounds({"bf16": lambda: F.scaled_dot_product_attention(*low),
                           "fp32": lambda: F.scaled_dot_product_attention(q, k, v)}, rounds)
        gflop = 4 * batch * HEADS * length * length * HEAD_DIM / 1e9
        rows.append({"length": length, "batch": batch, "gflop": gflop,
                     **{f"{name}_gflops": gflop / s for name, s in medians.items()},
                     **{f"{name}_ms": s * 1e3 for name, s in medians.items()}})
        print(f"L={length:4d} B={batch:3d}  bf16 {rows[-1]['bf16_gflops']:6.0f} GFLOP/s   "
              f"fp32 {rows[-1]['fp32_gflops']:6.0f} GFLOP/s", file=sys.stderr, flush=True)
    return rows


def layout_table(rounds: int) -> list[dict[str, object]]:
    rows = []
    for batch, lo, hi in LAYOUT_CASES:
        lengths = torch.linspace(lo, hi, batch).round().long()
        generator = torch.Generator().manual_seed(hi)
        q, k, v = (torch.randn(batch, HEADS, hi, HEAD_DIM, generator=generator).to(torch.bfloat16) for _ in range(3))
        keep = torch.arange(hi)[None, :] < lengths[:, None]
        full = keep[:, None, None, :].expand(batch, 1, hi, hi).contiguous()  # what transformers' sdpa mask gives
        aligned = hi + (-hi) % 32
        qp, kp, vp = (F.pad(t, (0, 0, 0, aligned - hi)) for t in (q, k, v))
        keep_aligned = (torch.arange(aligned)[None, :] < lengths[:, None])[:, None, None, :]

        def per_sequence() -> None:
            for row, n in enumerate(lengths.tolist()):
                F.scaled_dot_product_attention(q[row:row + 1, :, :n], k[row:row + 1, :, :n], v[row:row + 1, :, :n])

        variants = {
            "batched, [B,1,L,L] mask (transformers sdpa)": lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=full),
            "batched, padded to 32, [B,1,1,L] mask": lambda: F.scaled_dot_product_attention(qp, kp, vp, attn_mask=keep_aligned),
            "batched, padded to 32, no mask (bound, wrong with padding)": lambda: F.scaled_dot_product_attention(qp, kp, vp),
            "per sequence, exact lengths": per_sequence,
            "grouped by 32-aligned length (uniclass padded_sdpa)": lambda: padded_sdpa(q, k, v, keep[:, None, None, :], None),
        }
        medians = _rounds(variants, rounds)
        base = medians["batched, [B,1,L,L] mask (transformers sdpa)"]
        rows.append({"batch": batch, "lengths": [lo, hi],
                     "ms": {name: s * 1e3 for name, s in medians.items()},
                     "speedup_vs_transformers_sdpa": {name: base / s for name, s in medians.items()}})
        print(f"B={batch} lengths {lo}-{hi}: " + " | ".join(f"{name}: {s * 1e3:.1f} ms" for name, s in medians.items()),
              file=sys.stderr, flush=True)
    return rows


def linear_table(rounds: int, rows: int = 8192) -> list[dict[str, object]]:
    out = []
    for k, n in ((384, 1152), (384, 384), (384, 1536), (1536, 384)):
        generator = torch.Generator().manual_seed(k + n)
        x = torch.randn(rows, k, generator=generator).to(torch.bfloat16)
        weight, bias = torch.randn(n, k, generator=generator) * 0.05, torch.randn(n, generator=generator)
        w_scale = weight.abs().amax(1) / 127
        w_int8 = torch.round(weight / w_scale[:, None]).clamp(-128, 127).to(torch.int8)
        packed = torch.ops.onednn.qlinear_prepack(w_int8, [rows, k])
        zero_points = torch.zeros(n, dtype=torch.long)
        x_uint8 = torch.randint(0, 256, (rows, k), dtype=torch.uint8, generator=generator)
        w_bf16, b_bf16 = weight.to(torch.bfloat16), bias.to(torch.bfloat16)

        def int8(qx: torch.Tensor, scale: float) -> torch.Tensor:
            return torch.ops.onednn.qlinear_pointwise(qx, scale, 128, packed, w_scale, zero_points, bias, 1.0, 0,
                                                      torch.bfloat16, "none", [], "")

        def int8_dynamic() -> torch.Tensor:
            scale = float(x.abs().max()) / 127
            qx = torch.clamp(torch.round(x.float() / scale) + 128, 0, 255).to(torch.uint8)
            return int8(qx, scale)

        medians = _rounds({
            "bf16 fused linear": lambda: torch.ops.mkldnn._linear_pointwise(x, w_bf16, b_bf16, "none", [], ""),
            "int8 kernel alone (activations already uint8)": lambda: int8(x_uint8, 0.01),
            "int8 with per-tensor activation quantization": int8_dynamic,
        }, rounds)
        gflop = 2 * rows * k * n / 1e9
        out.append({"rows": rows, "in": k, "out": n, "gflops": {name: gflop / s for name, s in medians.items()}})
        print(f"linear {k}->{n}: " + " | ".join(f"{name}: {gflop / s:.0f} GFLOP/s" for name, s in medians.items()),
              file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "speed" / "attention_kernels.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    payload = {"header": run_header(args.threads), "command": " ".join(["python", *sys.argv]),
               "heads": HEADS, "head_dim": HEAD_DIM, "rounds": args.rounds,
               "alignment": alignment_table(args.rounds), "layouts": layout_table(args.rounds),
               "linears": linear_table(args.rounds)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
