"""The errors of export and load: each names the op, the problem and a fix."""

from __future__ import annotations

from mg_graph import GraphError


class ExportError(GraphError, ValueError):
    """A traced graph cannot be written as ONNX (an op without a mapping, a value that
    depends on the batch size...). The message names the op and the user's line."""


class UnsupportedOpsError(GraphError, ValueError):
    """An ONNX model uses op types outside Macrograd's set; ``missing`` lists them.

    >>> str(UnsupportedOpsError(["Atan", "LSTM"]))
    'load: the ONNX model uses op types Macrograd does not have: Atan, LSTM'
    """

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            "load: the ONNX model uses op types Macrograd does not have: " + ", ".join(missing)
        )


class LoadError(GraphError, ValueError):
    """An ONNX node of a supported type uses a form Macrograd cannot build (asymmetric
    padding, grouped convolution...); the message names the node and the attribute."""
