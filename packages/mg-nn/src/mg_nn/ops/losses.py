"""Fused, numerically stable losses and their fused first gradients; the clamped log
of binary cross-entropy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mg_tensor.oplib import (
    Array,
    Grads,
    Node,
    Spec,
    Tensor,
    TensorOp,
    apply,
    float_dtype,
    shape_error,
    write_out,
)
from mg_tensor.ops import log_softmax, maximum, softmax


def _loss_scale(g: Any, reduction: str, n: int) -> Any:
    """``g`` (the loss's gradient, a Tensor or an array) as a per-row factor of the loss of
    each row: (N, 1) for "none", else 0-d."""
    if reduction == "none":
        return g.reshape((n, 1))
    return g / n if reduction == "mean" else g


def _reduce_rows(loss: Any, reduction: str, n: int) -> Any:
    """The per-row losses (N,) (a Tensor or an array) reduced as ``reduction`` says."""
    if reduction == "none":
        return loss
    total = loss.sum()
    return total / n if reduction == "mean" else total


def _shifted_exp(x: Array, out: Array | None = None) -> tuple[Array, Array, Array]:
    """``exp(x - max)`` row by row (into ``out``), the row maxima and the row sums of the
    exponentials (both (N, 1)): the stable pieces of logsumexp and softmax."""
    top = np.maximum.reduce(x, axis=1, keepdims=True)  # ufuncs: no Python wrappers
    e = np.subtract(x, top, out=out)
    np.exp(e, out=e)
    return e, top, np.add.reduce(e, axis=1, keepdims=True)


def _check_targets(t: Array, classes: int) -> None:
    if t.size and (np.minimum.reduce(t) < 0 or np.maximum.reduce(t) >= classes):
        bad = t[(t < 0) | (t >= classes)][0]
        raise IndexError(
            f"cross_entropy: target class {int(bad)} is out of range for {classes} classes"
        )


@dataclass(frozen=True)
class CrossEntropy(TensorOp):
    """Fused, stable cross-entropy of ``(N, C)`` logits: ``(logits, target) -> loss``.

    ``target`` is either class indices (integers, shape (N,)) or probabilities / one-hot
    rows (floats, shape (N, C)). The loss of row i is ``logsumexp(x_i) - x_i[t_i]``
    (resp. ``sum_c t_ic * (logsumexp(x_i) - x_ic)``), reduced by "mean" (over N),
    "sum" or "none". Its gradient is the fused `CrossEntropyGrad`.

    >>> from mg_tensor import Tensor
    >>> apply(CrossEntropy("none"), Tensor([[0.0, 0.0]]), Tensor(np.array([1]))).data
    array([0.6931472], dtype=float32)
    """

    reduction: str = "mean"
    name: ClassVar[str] = "cross_entropy"

    def infer(self, *inputs: Node) -> Spec:
        x, t = inputs
        if x.ndim != 2:
            raise shape_error(
                self.name, inputs, "logits must be 2-d (N, C)", "reshape to (N, C) first"
            )
        if t.dtype.kind in "iu":
            if t.shape != x.shape[:1]:
                raise shape_error(
                    self.name,
                    inputs,
                    "class-index targets must have shape (N,)",
                    "pass one integer class per row",
                )
            dtype = float_dtype(self.name, [x])
        else:
            if t.shape != x.shape:
                raise shape_error(
                    self.name,
                    inputs,
                    "probability targets must have the logits' shape (N, C)",
                    "pass integer class indices of shape (N,) or rows of probabilities",
                )
            dtype = float_dtype(self.name, inputs)
        return ((x.shape[0],) if self.reduction == "none" else ()), dtype

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, t = arrays
        n, c = x.shape
        _, top, total = _shifted_exp(x)
        lse = np.log(total[:, 0])
        lse += top[:, 0]
        if t.dtype.kind in "iu":
            _check_targets(t, c)
            loss = lse - x[np.arange(n), t]
        else:
            loss = lse * t.sum(axis=1) - np.einsum("ij,ij->i", t, x)
        dtype = np.result_type(x.dtype, t.dtype) if t.dtype.kind == "f" else x.dtype
        return write_out(_reduce_rows(loss, self.reduction, n), out, dtype)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, t = inputs
        gx = apply(CrossEntropyGrad(self.reduction), x, t, g) if needed[0] else None
        gt = None
        if needed[1]:  # only float (probability) targets are ever differentiated
            gt = -log_softmax(x, axis=1) * _loss_scale(g, self.reduction, x.shape[0])
        return [gx, gt]


@dataclass(frozen=True)
class CrossEntropyGrad(TensorOp):
    """``(logits, target, g) -> (softmax(logits) * sum(target) - target) * g / N``, in one
    kernel writing into its output buffer (the softmax is computed in place there).

    Its own gradient is written in ordinary ops (softmax, sums), so cross-entropy can be
    differentiated twice; only this first gradient is fused.

    >>> from mg_tensor import Tensor
    >>> x, t, g = Tensor([[0.0, 0.0]]), Tensor(np.array([1])), Tensor(1.0)
    >>> apply(CrossEntropyGrad("mean"), x, t, g).data
    array([[ 0.5, -0.5]], dtype=float32)
    """

    reduction: str = "mean"
    name: ClassVar[str] = "cross_entropy_grad"

    def infer(self, *inputs: Node) -> Spec:
        x, t, g = inputs
        floats = [x, g] if t.dtype.kind in "iu" else [x, t, g]
        return x.shape, float_dtype(self.name, floats)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, t, g = arrays
        n, c = x.shape
        out, _, total = _shifted_exp(x, out)
        k = _loss_scale(g, self.reduction, n)
        if t.dtype.kind in "iu":
            _check_targets(t, c)
            np.multiply(out, k / total, out=out)
            out[np.arange(n), t] -= k[:, 0] if self.reduction == "none" else k
        else:
            np.multiply(out, t.sum(axis=1, keepdims=True) / total, out=out)
            np.subtract(out, t, out=out)
            np.multiply(out, k, out=out)
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, t, gl = inputs
        n = x.shape[0]
        s = softmax(x, axis=1)
        k = _loss_scale(gl, self.reduction, n)
        indices = t.dtype.kind in "iu"
        rows = None if indices else t.sum(1, keepdims=True)
        grads: list[Tensor | None] = [None, None, None]
        if needed[0]:
            a = g * k if rows is None else g * (k * rows)
            grads[0] = s * (a - (a * s).sum(1, keepdims=True))
        if needed[1]:
            grads[1] = ((g * s).sum(1, keepdims=True) - g) * k
        if needed[2]:
            if rows is None:
                per_row = (g * s).sum(1) - g[np.arange(n), t]
            else:
                per_row = (g * (s * rows - t)).sum(1)
            grads[2] = _reduce_rows(per_row, self.reduction, n)
        return grads


@dataclass(frozen=True)
class ClampedLog(TensorOp):
    """``max(log(x), floor)``: binary cross-entropy's log, finite at probabilities of
    exactly 0 (PyTorch clamps it at -100). The gradient is ``1 / max(x, 1e-12)`` where
    the log is above the floor and 0 where it is clamped, so it never becomes inf.

    >>> from mg_tensor import Tensor
    >>> apply(ClampedLog(-100.0), Tensor([0.0, 1.0])).data
    array([-100.,    0.], dtype=float32)
    """

    floor: float = -100.0
    name: ClassVar[str] = "clamped_log"
    elementwise: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped next
            out = np.log(arrays[0], out=out)
        result: Array = np.maximum(out, self.floor, out=out)
        return result

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x = inputs[0]
        return [g * (out > self.floor) / maximum(x, 1e-12)]
