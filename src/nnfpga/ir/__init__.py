"""The IR: one small node type (:mod:`nnfpga.ir.graph`) and the checks every path relies on."""
