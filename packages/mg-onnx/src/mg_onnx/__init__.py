"""mg-onnx: Macrograd's graphs as ONNX models and back.

`export` writes the inference graph of a Model or a compiled function (parameters as
named initializers, a symbolic batch axis, opset 18); `load` opens an ONNX model as a
Model that can be drawn, run, differentiated and fine-tuned.

>>> import numpy as np
>>> from mg_nn import Linear
>>> layer = Linear(3, 2)
>>> x = np.ones((4, 3), np.float32)
>>> loaded = load(export(layer, x))
>>> [name for name, _ in loaded.named_parameters()]
['weight', 'bias']
>>> bool(np.allclose(loaded(x).data, layer(x).data))
True
"""

import os as _os

from mg_graph import register_internal as _register_internal

_register_internal(_os.path.dirname(__file__))

from mg_onnx.errors import ExportError, LoadError, UnsupportedOpsError  # noqa: E402
from mg_onnx.export import OPSET, export  # noqa: E402
from mg_onnx.exporters import EXPORTERS, NOT_EXPORTABLE, op_classes  # noqa: E402
from mg_onnx.load import IMPORTERS, OnnxModel, load  # noqa: E402

__all__ = [
    "EXPORTERS",
    "IMPORTERS",
    "NOT_EXPORTABLE",
    "OPSET",
    "ExportError",
    "LoadError",
    "OnnxModel",
    "UnsupportedOpsError",
    "export",
    "load",
    "op_classes",
]
