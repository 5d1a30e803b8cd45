"""Loss and accuracy curves to an image file (matplotlib is an optional extra)."""

from __future__ import annotations

import os

import numpy as np

from macrograd.data import write_atomically


def moving_average(values: list[float], window: int) -> np.ndarray:
    """Mean of each run of ``window`` consecutive values (fewer if there are fewer).

    >>> moving_average([1.0, 2.0, 3.0], 2).tolist()
    [1.5, 2.5]
    """
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot_curves(losses: list[float], accuracies: list[float], path: str, window: int = 50) -> None:
    """Draw per-batch training loss and accuracy, with moving averages, to ``path``
    (its extension, .png, .svg or .pdf, says the format); written atomically."""
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

    steps = np.arange(1, len(losses) + 1)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for ax, values, label in ((top, losses, "cross-entropy"), (bottom, accuracies, "accuracy")):
        smooth = moving_average(values, window)
        ax.plot(steps, values, alpha=0.3, label="per batch")
        ax.plot(steps[len(steps) - len(smooth) :], smooth, label=f"moving average ({window})")
        ax.set_ylabel(f"training {label}")
        ax.legend()
    top.set_yscale("log")
    bottom.set_xlabel("step")
    fig.tight_layout()
    image_format = os.path.splitext(path)[1][1:].lower()
    try:  # a unique temporary name, created exclusively, renamed into place
        write_atomically(path, lambda out: fig.savefig(out, format=image_format))
    finally:
        plt.close(fig)
