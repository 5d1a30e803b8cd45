"""Layers: models with parameters named and laid out as in ``torch.nn``.

Parameters are float32 unless ``dtype`` says otherwise and are drawn with PyTorch's
default initialisation from ``generator`` (a numpy Generator, an int seed, or None for
the default generator that `mg_nn.manual_seed` seeds).

>>> import numpy as np
>>> net = Sequential(Linear(4, 8, generator=0), ReLU(), Linear(8, 2, generator=1))
>>> net(np.ones((5, 4), np.float32)).shape
(5, 2)
>>> list(net.state_dict())
['0.weight', '0.bias', '2.weight', '2.bias']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from mg_nn import functional as F
from mg_nn import init
from mg_nn.model import Model, _Layer
from mg_nn.norms import _affine_parameters, _shape_of
from mg_nn.ops.windows import IntPair, Pair, pair
from mg_tensor import Tensor
from mg_tensor import ops as _t


def _parameter(array: Any, name: str) -> Tensor:
    return Tensor(array, requires_grad=True, name=name)


def _weight_and_bias(
    shape: tuple[int, ...],
    fan_in: int,
    bias: bool,
    generator: init.GeneratorLike,
    dtype: DTypeLike,
    outputs: int | None = None,
) -> tuple[Tensor, Tensor | None]:
    """PyTorch's default Linear/Conv2d parameters: weight of ``shape``, bias (``outputs``,
    default shape[0])."""
    rng = init.as_generator(generator)
    weight = _parameter(init.default_weight(shape, generator=rng, dtype=dtype), "weight")
    if not bias:
        return weight, None
    return weight, _parameter(
        init.default_bias(outputs or shape[0], fan_in, generator=rng, dtype=dtype), "bias"
    )


class Linear(_Layer):
    """``y = x @ weight.T + bias`` with ``weight`` (out_features, in_features).

    >>> layer = Linear(3, 2, generator=0)
    >>> layer.weight.shape, layer.bias.shape
    ((2, 3), (2,))
    >>> layer(np.ones((4, 3), np.float32)).shape
    (4, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        generator: init.GeneratorLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight, self.bias = _weight_and_bias(
            (out_features, in_features), in_features, bias, generator, dtype
        )

    def forward(self, x: Any) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class _ConvLayer(_Layer):
    """What Conv2d and ConvTranspose2d share: channels, kernel, stride, dilation, groups
    and PyTorch's default parameters for a weight of ``shape``."""

    padding: Pair | str

    def __init__(
        self,
        channels: tuple[int, int],
        kernel_size: IntPair,
        stride: IntPair,
        dilation: IntPair,
        groups: int,
        weight: tuple[int, int],
        bias: bool,
        generator: init.GeneratorLike,
        dtype: DTypeLike,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = channels
        if groups < 1 or channels[0] % groups or channels[1] % groups:
            raise ValueError(
                f"in_channels ({channels[0]}) and out_channels ({channels[1]}) must be "
                f"divisible by groups ({groups})"
            )
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride, "stride", 1)
        self.dilation = pair(dilation, "dilation", 1)
        self.groups = groups
        # weight (rows, columns / groups, kh, kw); PyTorch's fan_in is its dimension 1
        shape = (weight[0], weight[1] // groups, *self.kernel_size)
        self.weight, self.bias = _weight_and_bias(
            shape, shape[1] * shape[2] * shape[3], bias, generator, dtype, channels[1]
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, {self.more_repr()}"
            f"dilation={self.dilation}, groups={self.groups}, bias={self.bias is not None}"
        )

    def more_repr(self) -> str:
        return ""


class Conv2d(_ConvLayer):
    """2-d convolution over NCHW input; ``weight`` (out, in / groups, kh, kw), ``bias``
    (out,); arguments as PyTorch's (``padding`` may be "same" or "valid").

    >>> conv = Conv2d(1, 4, 3, padding=1, generator=0)
    >>> conv(np.zeros((2, 1, 8, 8), np.float32)).shape
    (2, 4, 8, 8)
    >>> Conv2d(4, 8, 3, padding="same", dilation=2, groups=4)(np.zeros((1, 4, 5, 5))).shape
    (1, 8, 5, 5)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair | str = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        generator: init.GeneratorLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__(
            (in_channels, out_channels),
            kernel_size,
            stride,
            dilation,
            groups,
            (out_channels, in_channels),
            bias,
            generator,
            dtype,
        )
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding")

    def forward(self, x: Any) -> Tensor:
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class ConvTranspose2d(_ConvLayer):
    """Transposed 2-d convolution over NCHW input; ``weight`` (in, out / groups, kh, kw),
    ``bias`` (out,); arguments and initialisation as PyTorch's.

    >>> up = ConvTranspose2d(4, 2, 2, stride=2, generator=0)
    >>> up.weight.shape, up(np.zeros((1, 4, 3, 3), np.float32)).shape
    ((4, 2, 2, 2), (1, 2, 6, 6))
    """

    padding: Pair

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        output_padding: IntPair = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntPair = 1,
        *,
        generator: init.GeneratorLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__(
            (in_channels, out_channels),
            kernel_size,
            stride,
            dilation,
            groups,
            (in_channels, out_channels),
            bias,
            generator,
            dtype,
        )
        self.padding = pair(padding, "padding")
        self.output_padding = pair(output_padding, "output_padding")

    def forward(self, x: Any) -> Tensor:
        return F.conv_transpose2d(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )

    def more_repr(self) -> str:
        return f"output_padding={self.output_padding}, "


class _PoolingLayer(_Layer):
    """A pooling layer; stride defaults to the window."""

    def __init__(
        self,
        kernel_size: IntPair,
        stride: IntPair | None = None,
        padding: IntPair = 0,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"ceil_mode={self.ceil_mode}"
        )


class MaxPool2d(_PoolingLayer):
    """Maximum over ``kernel_size`` windows (stride defaults to the window; ``padding``
    pads with -inf; ``ceil_mode`` keeps a last, partial window).

    >>> MaxPool2d(2)(np.zeros((1, 3, 8, 8), np.float32)).shape
    (1, 3, 4, 4)
    >>> MaxPool2d(3, 2, 1, ceil_mode=True)(np.zeros((1, 3, 8, 8), np.float32)).shape
    (1, 3, 5, 5)
    """

    def __init__(
        self,
        kernel_size: IntPair,
        stride: IntPair | None = None,
        padding: IntPair = 0,
        *,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)

    def forward(self, x: Any) -> Tensor:
        return F.max_pool2d(
            x, self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode
        )


class AvgPool2d(_PoolingLayer):
    """Mean over ``kernel_size`` windows (stride defaults to the window), with PyTorch's
    ``padding``, ``ceil_mode`` and ``count_include_pad``.

    >>> AvgPool2d(2)(np.ones((1, 1, 4, 4), np.float32)).data[0, 0]
    array([[1., 1.],
           [1., 1.]], dtype=float32)
    """

    def __init__(
        self,
        kernel_size: IntPair,
        stride: IntPair | None = None,
        padding: IntPair = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = count_include_pad

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )


class AdaptiveAvgPool2d(_Layer):
    """Average pooling to a fixed ``output_size`` (an int, or a pair whose None entries
    keep that axis), as PyTorch's.

    >>> AdaptiveAvgPool2d(1)(np.ones((2, 3, 5, 7), np.float32)).shape
    (2, 3, 1, 1)
    """

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Flatten(_Layer):
    """Merge the axes from ``start_axis`` on (default 1: keep the batch axis).

    >>> Flatten()(np.zeros((2, 3, 4), np.float32)).shape
    (2, 12)
    """

    def __init__(self, start_axis: int = 1) -> None:
        super().__init__()
        self.start_axis = start_axis

    def forward(self, x: Any) -> Tensor:
        return _t.flatten(x, self.start_axis)

    def extra_repr(self) -> str:
        return f"start_axis={self.start_axis}"


class Dropout(_Layer):
    """In training mode zero each element with probability ``p`` and scale the rest by
    ``1 / (1 - p)``; the identity in evaluation mode.

    A fresh mask is drawn at every computation, also in a frozen graph (see
    `mg_tensor.random`). A graph traced in training mode is traced again after
    ``model.eval()``: the mode is one of a trace's guards.

    >>> drop = Dropout(0.5)
    >>> sorted(set(drop(np.ones(100, np.float32)).data.tolist()))
    [0.0, 2.0]
    >>> drop.eval()(np.ones(3, np.float32)).data
    array([1., 1., 1.], dtype=float32)
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerNorm(_Layer):
    """Normalise over the trailing ``normalized_shape`` axes, then ``* weight + bias``
    (ones and zeros at first).

    >>> LayerNorm(3)(np.array([[1.0, 2.0, 3.0]], np.float32)).data.round(3)
    array([[-1.225,  0.   ,  1.225]], dtype=float32)
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        *,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        self.normalized_shape = _shape_of(normalized_shape)
        self.eps = eps
        self.weight, self.bias = _affine_parameters(
            self.normalized_shape, elementwise_affine, True, dtype
        )

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"
        )


class Embedding(_Layer):
    """A lookup table: integer indices of any shape -> rows of ``weight``
    (num_embeddings, embedding_dim), initialised N(0, 1) as in PyTorch.

    >>> Embedding(10, 3, generator=0)(np.array([[1, 2], [3, 4]])).shape
    (2, 2, 3)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        generator: init.GeneratorLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        weight = init.normal((num_embeddings, embedding_dim), generator=generator, dtype=dtype)
        self.weight = _parameter(weight, "weight")

    def forward(self, x: Any) -> Tensor:
        return F.embedding(x, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class ReLU(_Layer):
    """max(x, 0) as a layer.

    >>> ReLU()(np.array([-1.0, 1.0])).data
    array([0., 1.])
    """

    def forward(self, x: Any) -> Tensor:
        return _t.relu(x)


class Tanh(_Layer):
    """tanh as a layer.

    >>> Tanh()(np.array([0.0])).data
    array([0.])
    """

    def forward(self, x: Any) -> Tensor:
        return _t.tanh(x)


class Sigmoid(_Layer):
    """The logistic function as a layer.

    >>> Sigmoid()(np.array([0.0])).data
    array([0.5])
    """

    def forward(self, x: Any) -> Tensor:
        return _t.sigmoid(x)


class _AlongAxis(_Layer):
    """A layer applying a normalisation along one ``axis``."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Any) -> Tensor:
        return self.along(x, self.axis)

    def along(self, x: Any, axis: int) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Softmax(_AlongAxis):
    """Stable softmax along ``axis`` as a layer.

    >>> Softmax()(np.zeros((1, 4), np.float32)).data
    array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)
    """

    def along(self, x: Any, axis: int) -> Tensor:
        return _t.softmax(x, axis)


class LogSoftmax(_AlongAxis):
    """Stable log-softmax along ``axis`` as a layer.

    >>> LogSoftmax()(np.array([[1000.0, 0.0]])).data
    array([[    0., -1000.]])
    """

    def along(self, x: Any, axis: int) -> Tensor:
        return _t.log_softmax(x, axis)


class Sequential(Model):
    """Layers applied in order; named "0", "1", ... (or by the keys of one dict argument),
    as ``torch.nn.Sequential``. Indexable, sliceable, iterable.

    >>> net = Sequential(Linear(2, 3, generator=0), ReLU())
    >>> len(net), type(net[0]).__name__, len(net[:1])
    (2, 'Linear', 1)
    """

    def __init__(self, *layers: Any) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], Mapping):
            named = {str(key): layer for key, layer in layers[0].items()}
        else:
            named = {str(i): layer for i, layer in enumerate(layers)}
        self._mg_layers: dict[str, Any] = named

    def _mg_members(self) -> Iterator[tuple[str, Any]]:
        yield from self._mg_layers.items()
        yield from super()._mg_members()

    def forward(self, x: Any) -> Any:
        for layer in self._mg_layers.values():
            x = layer(x)
        return x

    def append(self, layer: Any) -> Sequential:
        """Add a layer at the end (named by its position); returns self.

        >>> list(Sequential().append(ReLU()).append(Linear(2, 2)).state_dict())
        ['1.weight', '1.bias']
        """
        self._mg_layers[str(len(self._mg_layers))] = layer
        self._mg_edited()  # a new member, as an attribute assignment would be
        return self

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._mg_layers.items())
        if isinstance(index, slice):
            return Sequential(dict(items[index]))
        return items[index][1]

    def __len__(self) -> int:
        return len(self._mg_layers)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._mg_layers.values()))


__all__ = [
    "AvgPool2d",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "LayerNorm",
    "Linear",
    "LogSoftmax",
    "MaxPool2d",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
