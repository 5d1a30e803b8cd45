"""The `mnist` command: train the original Macrograd README's MLP (or a small CNN) on
MNIST and report test accuracy.

>>> from mnist_app.models import MNIST_model
>>> len(MNIST_model(784, 10).parameters())
8
"""

__version__ = "0.1.0"
