"""Vectors in fewer bytes: 1-bit token vectors (the fixed rotation, packed dot products) and
int8 sentence vectors."""

import numpy as np
import pytest

from bot.search.quantize import dequantize_rows, fixed_rotation, packed_dots, quantize_rows


def test_token_rotation_is_orthogonal_and_fixed():
    r = fixed_rotation(384)
    np.testing.assert_allclose(r @ r.T, np.eye(384), atol=1e-5)
    # The same matrix when made again (a new process): the seed fixes it, not the cache.
    np.testing.assert_array_equal(r, fixed_rotation.__wrapped__(384))


def test_the_rotation_is_made_once_and_shared_read_only():
    # Every build and live update used to redo its QR (seconds under load); the one shared
    # matrix must then be safe from a caller writing into it.
    assert fixed_rotation(16) is fixed_rotation(16)
    with pytest.raises(ValueError):
        fixed_rotation(16)[0, 0] = 1.0


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_quantized_rows_round_trip_within_the_one_bit_bound():
    # The error of 1 bit a dimension: a unit row y (turned) comes back as sign(y) / |y|_1,
    # whose cosine to y is |y|_1 / sqrt(dim): sqrt(2 / pi) ~ 0.80 for a spread-out row.
    rng = np.random.default_rng(0)
    dim = 384
    rotation = fixed_rotation(dim)
    gauss = _unit(rng.standard_normal((500, dim)))
    # Rows with a few huge coordinates (as the model's outlier dimensions): the turn spreads them.
    spiky = _unit(np.eye(dim)[:50] + 0.01 * rng.standard_normal((50, dim)))
    rows = np.concatenate([gauss, spiky])
    bits, scales = quantize_rows(rows, rotation)
    assert bits.dtype == np.uint8 and bits.shape == (550, dim // 8)
    assert scales.dtype == np.float16 and scales.shape == (550,)
    back = dequantize_rows((bits, scales), rotation)
    cos = (back * rows).sum(axis=1) / np.linalg.norm(back, axis=1)
    assert cos.min() > 0.74 and 0.78 < cos.mean() < 0.82
    # A decoded row's dot product with its own original is kept (1, as for int8 rows), so
    # MaxSim of a question word found verbatim stays 1 (to float16's precision).
    np.testing.assert_allclose((back * rows).sum(axis=1), 1.0, atol=2e-3)
    # Dot products with other unit vectors (a question's word pieces) move little, both ways.
    q = _unit(rng.standard_normal((20, dim)))
    error = back @ q.T - rows @ q.T
    assert np.abs(error).max() < 0.2 and abs(error.mean()) < 0.01
    # MaxSim still finds each question word's own piece among 500 others.
    assert (np.argmax(gauss[:20] @ back.T, axis=1) == np.arange(20)).all()


def test_quantized_rows_of_nothing_and_of_zeros():
    rotation = fixed_rotation(12)  # not a multiple of 8: the last byte is padding
    bits, scales = quantize_rows(np.zeros((0, 12)), rotation)
    assert bits.shape == (0, 2) and scales.shape == (0,)
    bits, scales = quantize_rows(np.zeros((2, 12)), rotation)
    assert bits.shape == (2, 2) and (scales == 0).all()
    assert not dequantize_rows((bits, scales), rotation).any()


def test_packed_dots_are_the_dots_of_the_decoded_rows():
    rng = np.random.default_rng(1)
    rotation = fixed_rotation(20)
    rows = _unit(rng.standard_normal((30, 20)))
    q = _unit(rng.standard_normal((3, 20)))
    quantized = quantize_rows(rows, rotation)
    np.testing.assert_allclose(
        packed_dots(quantized, q @ rotation), dequantize_rows(quantized, rotation) @ q.T, atol=1e-5
    )


def test_int8_rows_keep_dot_products_within_their_scale():
    from bot.search.embedder import normalise
    from bot.search.quantize import dequantize_int8, quantize_int8

    rng = np.random.default_rng(5)
    rows = normalise(rng.standard_normal((200, 384)))
    codes, scales = quantize_int8(rows)
    assert codes.dtype == np.int8 and codes.shape == rows.shape
    assert scales.dtype == np.float32 and scales.shape == (200,)
    assert np.abs(codes).max() == 127  # each row's largest coordinate takes the whole range
    decoded = dequantize_int8(codes, scales)
    assert np.abs(decoded - rows).max() <= scales.max() / 2 + 1e-7
    questions = normalise(rng.standard_normal((10, 384)))
    assert np.abs(decoded @ questions.T - rows @ questions.T).max() < 0.003
    # Quantizing what was decoded gives the same codes: a reused row does not drift.
    again = quantize_int8(decoded)
    np.testing.assert_array_equal(again[0], codes)


def test_int8_rows_of_nothing_and_of_zeros():
    from bot.search.quantize import dequantize_int8, quantize_int8

    codes, scales = quantize_int8(np.zeros((0, 8), np.float32))
    assert codes.shape == (0, 8) and scales.shape == (0,)
    codes, scales = quantize_int8(np.zeros((2, 8), np.float32))
    assert not codes.any() and not scales.any()
    assert not dequantize_int8(codes, scales).any()
