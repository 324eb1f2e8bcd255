"""Design-space exploration (issue 17): the space a sweep varies (:mod:`~nnfpga.dse.space`); the estimator and
the Dask-distributed sweep build on it."""

from nnfpga.dse.space import Point, Space, load_space

__all__ = ["Point", "Space", "load_space"]
