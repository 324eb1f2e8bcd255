"""The feature counts of one layer of a generated design (what :mod:`~nnfpga.backends.rtl.netlist_features` reads
from modules and :mod:`~nnfpga.backends.rtl.netlist_text` from Verilog text; the fields are described there), as
:mod:`~nnfpga.backends.rtl.estimate` turns them into resources and the stored validation sweep keeps them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

_SCALARS = ("add_bits", "const_add_bits", "ext_bits", "dsp_add_bits", "adders", "mux_bits", "cmp_bits", "rom_bits",
            "rom_entries", "sel_bits", "reg_bits", "stream_reg_bits", "skid_bits", "count_bits", "srl_cells")
_LISTS = ("muls", "mems")
_STREAM = ("stream_reg_bits", "skid_bits", "count_bits", "srl_cells", "mems")


@dataclass
class Counts:
    """The feature counts of one layer (see the module doc)."""

    add_bits: int = 0
    const_add_bits: int = 0
    ext_bits: int = 0
    dsp_add_bits: int = 0
    adders: int = 0
    mux_bits: int = 0
    cmp_bits: int = 0
    rom_bits: int = 0
    rom_entries: int = 0
    sel_bits: int = 0
    reg_bits: int = 0
    muls: list[tuple[int, int, int, int]] = field(default_factory=list)
    # the stream elements written as Verilog text (window generators, FIFOs): :func:`text_counts`
    stream_reg_bits: int = 0
    skid_bits: int = 0
    count_bits: int = 0
    srl_cells: int = 0
    mems: list[tuple[int, int, int]] = field(default_factory=list)

    def add(self, other: Counts, times: int = 1) -> None:
        for k in _SCALARS:
            setattr(self, k, getattr(self, k) + times * getattr(other, k))
        self.muls += other.muls * times
        self.mems += other.mems * times

    def to_dict(self) -> dict[str, object]:
        """JSON-ready; the stream elements' counts only where there are some (MLPs have none)."""
        out: dict[str, object] = {k: v for k, v in vars(self).items() if k not in _LISTS}
        for k in _LISTS:
            out[k] = sorted(Counter(getattr(self, k)).items())
        return {k: v for k, v in out.items() if k not in _STREAM or v}

    @staticmethod
    def from_dict(d: dict) -> Counts:
        c = Counts(**{k: int(v) for k, v in d.items() if k not in _LISTS})
        for k in _LISTS:
            setattr(c, k, [tuple(int(v) for v in m) for m, n in d.get(k, []) for _ in range(int(n))])
        return c
