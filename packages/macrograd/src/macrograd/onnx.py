"""ONNX export and load (mg-onnx).

>>> from macrograd.onnx import export, load
>>> export.__name__, load.__name__
('export', 'load')
"""

from mg_onnx import *  # noqa: F403
from mg_onnx import __all__ as __all__
