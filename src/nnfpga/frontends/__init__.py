"""Frontends: each turns a framework's model into the same untyped :class:`~nnfpga.ir.graph.Graph`.

Framework libraries are imported lazily, inside the functions that need them (all optional extras).
"""


class Rejected(Exception):
    """A layer or quantizer a frontend cannot map exactly (internal: each frontend collects these into one
    :class:`~nnfpga.errors.UnsupportedLayerError` listing every layer; it never escapes)."""
