"""The protocol's resize: OpenCV's ``cv2.resize``, called as the released code calls it (210x160 -> 96x96).

The released wrapper (``rlpyt_atari_env.py:372``) calls ``cv2.resize(frame, (96, 96), cv2.INTER_LINEAR)``;
the flag lands in the ``dst`` position and is ignored, and OpenCV's default interpolation is bilinear
(``INTER_LINEAR``: half-pixel centres, no antialiasing, weights rounded to 11-bit fixed point). We call
OpenCV itself, so every frame is bit-equal to the released pipeline's (tests/atari/test_resize.py checks
it on real ALE frames). gymnasium's ``AtariPreprocessing`` uses ``INTER_AREA`` instead
(docs/method.md#protocol-gymnasium).
"""

from __future__ import annotations

import cv2
import numpy as np

# The protocol version of every frame this module makes: frame datasets record it, and a dataset of another
# version is refused (spirl.atari.frames). 1 was a NumPy bilinear resize that differed from OpenCV's by one grey
# level on about 5-8% of the pixels (docs/method.md#protocol-resize); 2 is OpenCV's.
RESIZE_VERSION = 2
RESIZE = f"cv2.resize INTER_LINEAR (OpenCV {cv2.__version__})"


def resize_screen(screen: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one uint8 screen ``(H, W, C)`` or ``(H, W)`` to ``size = (h, w)``, as ``cv2.resize(screen, (w, h))``.

    Returns a new uint8 array ``(h, w, C)`` (the channel axis is kept, also for ``C = 1``, which OpenCV drops),
    or ``(h, w)`` for a 2-D screen.
    """
    if screen.dtype != np.uint8 or screen.ndim not in (2, 3):
        raise ValueError(f"resize_screen expects a uint8 (H, W) or (H, W, C) screen, got {screen.dtype} {screen.shape}")
    h, w = size
    out = cv2.resize(screen, (w, h))  # OpenCV takes (width, height); default interpolation INTER_LINEAR
    return out.reshape(h, w, screen.shape[2]) if screen.ndim == 3 else out
