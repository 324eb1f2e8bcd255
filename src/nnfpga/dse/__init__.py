"""Design-space exploration (issue 17): the space a sweep varies (:mod:`~nnfpga.dse.space`) and the sweep over
it on Dask (:mod:`~nnfpga.dse.sweep`)."""

from nnfpga.dse.space import Point, Space, load_space
from nnfpga.dse.sweep import SweepResult, sweep

__all__ = ["Point", "Space", "SweepResult", "load_space", "sweep"]
