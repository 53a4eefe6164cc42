"""``uniclass export onnx``: the command-line face of ``exporters.onnx.export_onnx``.

Kept apart from ``cli.py`` so that building the parser stays light (torch is imported only when an export runs).
"""

from __future__ import annotations

import argparse
import json
import sys


def add_export_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="export a model for another runtime (ONNX)",
        description="Export a GLiClass checkpoint for inference without torch.",
    )
    formats = export.add_subparsers(dest="export_format", required=True)
    onnx = formats.add_parser(
        "onnx",
        help="ONNX graphs with dynamic batch, sequence and label axes, checked against torch",
        description="Write config, tokenizer, ONNX graph(s) and onnx_parity.json to --out, then run the reference "
        "inputs through onnxruntime and fail if the fp32 logits differ from torch by more than 1e-4. Load the "
        "folder with Classifier.from_pretrained(OUT, backend='onnx') (pip install 'uniclass[onnx]', no torch "
        "needed). Needs the export extra: pip install 'uniclass[export]'.",
        epilog="example:\n  uniclass export onnx --model path/to/checkpoint --out model-onnx --quantize",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    onnx.add_argument("--model", default=None, help="GLiClass checkpoint folder or hub id (default: the bundled model)")
    onnx.add_argument("--out", required=True, help="output folder")
    onnx.add_argument(
        "--quantize",
        action="store_true",
        help="also write int8 graphs (dynamic quantization); their score change is reported, not enforced",
    )
    onnx.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17; 18 with --exporter dynamo)")
    onnx.add_argument(
        "--exporter",
        choices=["torchscript", "dynamo"],
        default="torchscript",
        help="torch.onnx exporter (default torchscript, i.e. dynamo=False)",
    )
    onnx.add_argument("--no-check", action="store_true", help="write the export even if the parity check fails")


def run_export(args: argparse.Namespace) -> int:
    """Export, then print the parity summary as one JSON line."""
    from ..checkpoint import PARITY_FILE
    from ..loading import DEFAULT_MODEL_DIR
    from .onnx import OnnxParityError, export_onnx

    model = args.model
    if model is None:
        model = DEFAULT_MODEL_DIR
    try:
        out = export_onnx(
            model, args.out, quantize=args.quantize, opset=args.opset, check=not args.no_check, exporter=args.exporter
        )
    except OnnxParityError as err:
        print(f"uniclass: error: {err}", file=sys.stderr)
        return 2
    parity = json.loads((out / PARITY_FILE).read_text(encoding="utf-8"))
    summary = {"out": str(out), "graphs": parity["graphs"], "fp32": parity["fp32"]}
    if "int8" in parity:
        summary["int8"] = {
            key: parity["int8"][key] for key in ("graphs", "max_abs_score_diff_vs_fp32", "max_abs_logit_diff_vs_fp32")
        }
    print(json.dumps(summary))
    return 0
