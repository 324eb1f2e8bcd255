"""Automatic tuning of a converted model against a hardware cost, checked with the bit-exact emulator.

>>> config, result = nnfpga.tune.precision(model, X, y, max_accuracy_drop=0.001)   # doctest: +SKIP
>>> print(result)                                                                  # doctest: +SKIP
"""

from nnfpga.tune.cost import estimate_cost, layer_costs
from nnfpga.tune.search import PrecisionResult, Step, precision
from nnfpga.tune.uniform import UniformResult, UniformRow, uniform

__all__ = ["PrecisionResult", "Step", "UniformResult", "UniformRow", "estimate_cost", "layer_costs", "precision",
           "uniform"]
