"""Average a shipped (int8 ONNX) verifier's weights with a trained checkpoint's: a model soup.

Two cross-encoders fine-tuned from the same all-MiniLM-L6-v2 weights on different data can be
averaged weight by weight into one model of the same size and cost (Wortsman et al., "Model
soups", 2022). The third run's training checkpoint was not kept, only its int8 ONNX export
(bot/models/verifier), so its weights are read back from that export: every int8 matrix
dequantised ((q - zero_point) * scale, per output column as export_verifier.quantise wrote
it), every float kept. The result is a checkpoint folder like train_verifier.py's, for
export_verifier.py --ckpt.

    .venv/bin/python training/soup_verifier.py --onnx cache/verifier-r3/model.onnx \\
        --ckpt cache/training/verifier-ckpt-r8 --weight 0.5 --out cache/training/verifier-ckpt-soup
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Each encoder layer's six matrices, in the order torch.onnx.export numbers their MatMuls.
LAYER_MATRICES = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


def dequantised(onnx_path: Path) -> dict[str, np.ndarray]:
    """The export's weights as float32 arrays, under the checkpoint's (torch) names."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    arrays = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}

    def real(stem: str) -> np.ndarray:
        q = arrays[f"{stem}_quantized"].astype(np.float32)
        zero = arrays[f"{stem}_zero_point"].astype(np.float32)
        scale = arrays[f"{stem}_scale"].astype(np.float32)
        return np.asarray((q - zero) * scale, dtype=np.float32)

    out: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        if name.startswith("model.") and value.dtype == np.float32 and "_scale" not in name:
            out[name.removeprefix("model.")] = value  # biases and LayerNorms, never quantised
    for part in ("word", "position", "token_type"):
        stem = f"model.bert.embeddings.{part}_embeddings.weight"
        out[f"bert.embeddings.{part}_embeddings.weight"] = real(stem)
    for part in ("bert.pooler.dense", "classifier"):
        out[f"{part}.weight"] = real(f"model.{part}.weight_Transposed").T
    # The encoder's matrices are named by node number only: take them in graph order, each
    # stored (in, out) for MatMul, the transpose of torch's Linear weight.
    matmuls = [
        node.input[1].removesuffix("_quantized")
        for node in model.graph.node
        if node.op_type == "MatMulInteger" and node.input[1].startswith("onnx::MatMul_")
    ]
    if len(matmuls) % len(LAYER_MATRICES):
        raise SystemExit(f"{onnx_path}: {len(matmuls)} encoder matrices, not 6 a layer")
    for k, stem in enumerate(matmuls):
        layer, which = divmod(k, len(LAYER_MATRICES))
        out[f"bert.encoder.layer.{layer}.{LAYER_MATRICES[which]}.weight"] = real(stem).T
    return out


def soup(onnx_path: Path, ckpt: Path, weight: float, out: Path) -> dict[str, Any]:
    """Write weight * the export's weights + (1 - weight) * the checkpoint's to out."""
    import torch
    from safetensors.torch import load_file, save_file

    theirs = dequantised(onnx_path)
    ours = load_file(str(ckpt / "model.safetensors"))
    missing = sorted(set(ours) - set(theirs))
    extra = sorted(set(theirs) - set(ours))
    if missing or extra:
        raise SystemExit(f"names differ: checkpoint only {missing[:5]}, export only {extra[:5]}")
    mixed = {}
    for name, tensor in ours.items():
        other = torch.from_numpy(np.array(theirs[name], dtype=np.float32)).to(tensor.dtype)
        if other.shape != tensor.shape:
            raise SystemExit(f"{name}: {tuple(other.shape)} in the export, {tuple(tensor.shape)}")
        mixed[name] = (weight * other + (1 - weight) * tensor).contiguous()
    out.mkdir(parents=True, exist_ok=True)
    for f in ckpt.iterdir():
        if f.name != "model.safetensors" and f.is_file():
            shutil.copy2(f, out / f.name)
    save_file(mixed, str(out / "model.safetensors"), metadata={"format": "pt"})
    record = {"onnx": str(onnx_path), "ckpt": str(ckpt), "weight_of_onnx": weight}
    (out / "soup.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, required=True, help="an int8 verifier export")
    parser.add_argument("--ckpt", type=Path, required=True, help="a train_verifier.py folder")
    parser.add_argument("--weight", type=float, default=0.5, help="the export's share, 0-1")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not 0 <= args.weight <= 1:
        raise SystemExit("--weight is a share between 0 and 1")
    print(json.dumps(soup(args.onnx, args.ckpt, args.weight, args.out)))


if __name__ == "__main__":
    main()
