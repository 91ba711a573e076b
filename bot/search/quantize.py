"""Vectors kept in fewer bytes: token vectors at 1 bit a dimension, sentence vectors as int8.

A token's vector (one per token of every passage, for late-interaction re-ranking)
is turned by an orthogonal matrix from a fixed seed and kept as the signs of its coordinates,
packed 8 to a byte, with one float16 scale: dim / 8 + 2 bytes a row. A sentence's vector is
kept as int8 codes with one float32 scale: dim + 4 bytes a row, a quarter of float32.
"""

from __future__ import annotations

import functools

import numpy as np

Quantized = tuple[np.ndarray, np.ndarray]  # packed sign bits (uint8) and float16 scales
ROTATION_SEED = 13


@functools.cache
def fixed_rotation(dim: int) -> np.ndarray:
    """A random orthogonal (dim, dim) matrix from a fixed seed, stored with each index.

    Turning a token before keeping only its signs spreads the few large coordinates of
    the model's vectors over all of them, so no one sign carries much of the vector.
    Computed once per process (its QR took seconds of each live update under load) and
    returned read-only, since every caller shares it.
    """
    gauss = np.random.default_rng(ROTATION_SEED).standard_normal((dim, dim))
    q, r = np.linalg.qr(gauss)
    rotation = np.asarray(q * np.sign(np.diag(r)), dtype=np.float32)
    rotation.setflags(write=False)
    return rotation


def quantize_rows(matrix: np.ndarray, rotation: np.ndarray) -> Quantized:
    """Rows turned by rotation, kept as the signs of their coordinates (1 bit a dimension,
    packed) and one float16 scale: dim / 8 + 2 bytes a row.

    The scale is |y|^2 / |y|_1 for the turned row y, so that a decoded row's dot product with
    its own original is exactly |y|^2 (1 for the unit tokens) and its dot products with
    other vectors are on the same scale as the original's: MaxSim values, which the answer's
    confidence uses, keep their meaning (the least-squares scale, mean |y|, shrinks them to
    ~0.64 of a unit row's). The cosine of a decoded row to its original is |y|_1 /
    (sqrt(dim) |y|), sqrt(2 / pi) ~ 0.80 for a spread-out row, which the rotation makes likely.

    Token vectors are stored so. Measured on SQuAD-dev's tuning split, same index
    (BENCHMARKS.md, token vectors): re-ranking recall@1 0.8850 against 0.8869 with int8
    rows (dim + 4 bytes a row). Product quantization at 48 bytes (48 sub-vectors, 256
    centroids each) kept 0.8869 but needs codebooks trained on the corpus (minutes of k-means,
    50 s to encode 283k pieces, and codes that drift from the codebook as a live index
    grows); 1-bit residuals to 1,024 k-means centroids fell to 0.8748. Signs need no training
    and encode in one product.
    """
    m = np.asarray(matrix, dtype=np.float32)
    if not m.size:
        empty = np.zeros((m.shape[0], packed_width(rotation.shape[1])), np.uint8)
        return empty, np.zeros(m.shape[0], np.float16)
    turned = m @ rotation
    l1 = np.abs(turned).sum(axis=1)
    scales = np.divide((turned * turned).sum(axis=1), l1, out=np.zeros_like(l1), where=l1 > 0)
    return np.packbits(turned > 0, axis=1), scales.astype(np.float16)


def dequantize_rows(quantized: Quantized, rotation: np.ndarray) -> np.ndarray:
    """The rows quantize_rows approximates: scale * signs, turned back."""
    bits, scales = quantized
    ones = np.unpackbits(np.asarray(bits, np.uint8), axis=1, count=rotation.shape[0])
    signs = ones.astype(np.float32) * 2 - 1
    return np.asarray((signs * scales.astype(np.float32)[:, None]) @ rotation.T, np.float32)


def packed_dots(quantized: Quantized, turned: np.ndarray) -> np.ndarray:
    """Dot products (rows, queries) of the rows quantize_rows approximates with query rows
    already turned by the same rotation, without turning the rows back: with u the 0/1 bits,
    scale * signs . q = scale * (2 u . q - sum(q)). As fast as int8 rows widened to float32
    (0.60 against 0.53 ms for 2,400 rows and 12 query rows, one thread)."""
    bits, scales = quantized
    turned = np.asarray(turned, dtype=np.float32)
    ones = np.unpackbits(np.asarray(bits, np.uint8), axis=1, count=turned.shape[1])
    dots = 2 * (ones.astype(np.float32) @ turned.T) - turned.sum(axis=1)
    return np.asarray(dots * np.asarray(scales, np.float32)[:, None], np.float32)


def packed_width(dim: int) -> int:
    """Bytes of one packed token row."""
    return (dim + 7) // 8


def quantize_int8(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows as int8 codes and one float32 scale each (max |x| / 127): row ~ codes * scale.

    For unit rows of dimension 384 a coordinate is off by at most scale / 2 (~0.001), so a
    dot product with a unit question moves by ~0.0005: sentence scores keep their order
    (SQuAD-dev tune split, BENCHMARKS.md: recall@1 within 0.001 of float32).
    """
    m = np.asarray(matrix, dtype=np.float32)
    peak = np.abs(m).max(axis=1) if m.size else np.zeros(m.shape[0], np.float32)
    scales = (peak / 127).astype(np.float32)
    safe = np.where(scales > 0, scales, 1).astype(np.float32)
    codes = np.rint(m / safe[:, None]).clip(-127, 127).astype(np.int8)
    return codes.reshape(m.shape), scales


def dequantize_int8(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The float32 rows quantize_int8 keeps."""
    return np.asarray(codes, np.float32) * np.asarray(scales, np.float32)[:, None]
