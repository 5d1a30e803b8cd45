"""Loss curve to an image file (matplotlib is an optional extra)."""

from __future__ import annotations

import os

import numpy as np


def plot_curves(losses: list[float], path: str, window: int = 50) -> None:
    """Draw the per-step training loss and its moving average to ``path``."""
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

    steps = np.arange(1, len(losses) + 1)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, losses, alpha=0.3, label="loss per batch")
    ax.plot(steps[window - 1 :], smooth, label=f"moving average ({window})")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    stem, ext = os.path.splitext(path)
    partial = f"{stem}.partial{ext}"
    fig.savefig(partial)
    plt.close(fig)
    os.replace(partial, path)
