"""Bilinear resize of Atari screens, as the released code's ``cv2.resize(..., INTER_LINEAR)`` (210 x 160 -> 96 x 96).

gymnasium's ``AtariPreprocessing`` resizes with ``cv2.INTER_AREA``; the paper's pipeline is
bilinear (``docs/method.md#protocol-gymnasium``), so the protocol resizes here, in NumPy,
without OpenCV.
"""

from __future__ import annotations

import math

import numpy as np


def _taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices ``i0, i1`` and weight of ``i1`` for each output pixel, OpenCV ``INTER_LINEAR`` style.

    Output pixel ``x`` samples the source at ``(x + 0.5) * in/out - 0.5`` (half-pixel
    centres), clamped to the image: shapes ``(out_size,)``.
    """
    src = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5
    src = np.clip(src, 0.0, in_size - 1)
    i0 = np.minimum(np.floor(src).astype(np.intp), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, (src - i0).astype(np.float32)


class BilinearResize:
    """Bilinear resize of uint8 ``(H, W, C)`` images to ``(h, w, C)``, as ``cv2.resize(..., INTER_LINEAR)``.

    Separable: a row pass gathers the two source rows of each output row (cheap
    contiguous copies) and blends them in float32; the column pass is one small
    matrix product. When downscaling, with ``W / w = p / q`` in lowest terms
    (160 -> 96 is 5/3; 160 -> 84 is 40/21), the column taps repeat every ``p``
    source pixels, so the row-pass output ``(h, W*C)`` is viewed as
    ``(h * W/p, p*C)`` and multiplied by one ``(p*C, q*C)`` weight block; otherwise
    (upscaling clamps at the borders) a dense ``(W*C, w*C)`` matrix is used. Values
    are rounded to nearest. Results match
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`` rounded to
    nearest (|ours - reference| <= 0.5).
    """

    def __init__(self, in_shape: tuple[int, int], out_shape: tuple[int, int], channels: int) -> None:
        (H, W), (h, w), C = in_shape, out_shape, channels
        if min(H, W, h, w, C) < 1:
            raise ValueError(f"resize shapes must be positive, got {in_shape} -> {out_shape} with {channels} channels")
        self.in_shape, self.out_shape, self.channels = (H, W), (h, w), C
        self._y0, self._y1, wy = _taps(H, h)
        self._wy = np.repeat(wy[:, None], W * C, axis=1)  # (h, W*C): full size keeps the blend vectorised
        self._rows0 = np.empty((h, W * C), np.float32)
        self._rows1 = np.empty((h, W * C), np.float32)
        x0, x1, wx = _taps(W, w)
        g = math.gcd(W, w)
        p, q = W // g, w // g
        # Downscaling taps repeat every p source pixels; upscaling clamps at the borders and does not.
        periodic = all(
            x0[j + k * q] == x0[j] + k * p and x1[j + k * q] == x1[j] + k * p and abs(wx[j + k * q] - wx[j]) < 1e-6
            for k in range(g) for j in range(q)
        ) and all(x1[j] < p for j in range(q))
        if periodic:
            block_in, block_out, taps0, taps1, weights = p, q, x0[:q], x1[:q], wx[:q]
        else:
            block_in, block_out, taps0, taps1, weights = W, w, x0, x1, wx
        cols = np.zeros((block_in * C, block_out * C), np.float32)  # (p*C, q*C) column weights
        for j in range(block_out):
            for c in range(C):
                cols[taps0[j] * C + c, j * C + c] += 1.0 - weights[j]
                cols[taps1[j] * C + c, j * C + c] += weights[j]
        self._cols = cols
        self._block = block_in * C

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Resize ``image`` uint8 ``(H, W, C)`` -> a new uint8 ``(h, w, C)``."""
        H, W = self.in_shape
        flat = image.reshape(H, W * self.channels)  # (H, W*C)
        rows0, rows1 = self._rows0, self._rows1
        np.copyto(rows0, flat[self._y0])  # (h, W*C) upper source row of each output row
        np.copyto(rows1, flat[self._y1])  # (h, W*C) lower source row
        rows1 -= rows0
        rows1 *= self._wy
        rows1 += rows0  # rows1 = row-interpolated image (h, W*C)
        out = rows1.reshape(-1, self._block) @ self._cols  # (h * W/p, q*C) = column pass
        out += 0.5
        return out.astype(np.uint8).reshape(*self.out_shape, self.channels)


def bilinear_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one uint8 ``(H, W, C)`` or ``(H, W)`` image to ``size = (h, w)`` bilinearly (see ``BilinearResize``)."""
    img = image[..., None] if image.ndim == 2 else image
    if img.dtype != np.uint8 or img.ndim != 3:
        raise ValueError(f"bilinear_resize expects a uint8 (H, W, C) image, got {image.dtype} {image.shape}")
    out = BilinearResize(img.shape[:2], size, img.shape[2])(np.ascontiguousarray(img))
    return out[..., 0] if image.ndim == 2 else out
