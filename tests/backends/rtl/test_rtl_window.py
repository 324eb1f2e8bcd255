"""The streaming sliding-window generator in Verilator equals the emulator's windows (nnfpga.ops.spatial.windows,
the im2col order of the conv and pool ops), with random input stalls and output backpressure."""

from __future__ import annotations

import numpy as np
import pytest

from nnfpga.backends.rtl.window import cycles_per_image, simulate_windows, window_module
from nnfpga.errors import BackendSupportError, NnfpgaError
from nnfpga.fixed import FixedType
from nnfpga.ops.spatial import Window, windows

pytestmark = [pytest.mark.tools]

T = FixedType(6, 3)
CASES = {
    # Conv2D 3x3 "same" over 8x8x2
    "conv_same": ((8, 8), 2, Window((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))),
    # max pool 2x2 stride 2 over an odd 7x9x3 (the last row and column unused), padding filled with the minimum
    "pool_odd": ((7, 9), 3, Window((2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)))),
    # strides 1x2, dilation 2x1, asymmetric padding
    "stride_dilation": ((9, 8), 2, Window((3, 3), (1, 2), (2, 1), ((2, 1), (1, 1)))),
    # Conv1D k=3 "same" over (32, 3)
    "conv1d": ((32,), 3, Window((3,), (1,), (1,), ((1, 1),))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_windows_equal_emulator(case, verilator_exe, rtl_cache):
    spatial, c, win = CASES[case]
    fill = T.min_mantissa if case.startswith("pool") else 0
    rng = np.random.default_rng(len(case))
    x = rng.integers(T.min_mantissa, T.max_mantissa + 1, size=(200, *spatial, c))
    want = windows(x, win, fill)
    for seed in (0, 12345):  # 0: no stalls; else about 1 cycle in 4 without in_valid, 1 in 4 without out_ready
        got, cycles = simulate_windows(x, win, T, seed=seed, fill=fill, cache_dir=rtl_cache)
        assert got.shape == want.shape
        bad = np.argwhere(got != want)
        assert bad.size == 0, f"{len(bad)} of {want.size} window values differ; first at {tuple(bad[0])}"
        steady = 200 * cycles_per_image(spatial, win)
        if seed == 0:  # 2 reset cycles, the images back to back, then the drain check (8 cycles, less 1)
            unused = 9 if case == "pool_odd" else 0  # pool_odd's last row (9 pixels) comes after its last window
            assert cycles == 2 + steady + 7 - unused
        else:
            assert cycles > steady * 1.2


def test_unsupported_windows_are_refused():
    with pytest.raises(BackendSupportError, match="padding"):
        window_module("w", (8, 8), 1, Window((3, 3), (1, 1), (1, 1), ((3, 0), (0, 0))), 8)
    with pytest.raises(BackendSupportError, match="3D window"):
        window_module("w", (4, 4, 4), 1, Window((2, 2, 2), (1, 1, 1), (1, 1, 1), ((0, 0),) * 3), 8)
    with pytest.raises(NnfpgaError, match="shape"):
        simulate_windows(np.zeros((2, 8, 1)), Window((3, 3), (1, 1), (1, 1), ((0, 0), (0, 0))), T)
