"""The streaming sliding-window generator in Verilator equals the emulator's windows (nnfpga.ops.spatial.windows,
the im2col order of the conv and pool ops), with random input stalls and output backpressure."""

from __future__ import annotations

import numpy as np
import pytest

from nnfpga.backends.rtl.timing import Stage, measured, stated
from nnfpga.backends.rtl.window import (
    RAM_THRESHOLD_BITS,
    cycles_per_image,
    geometry,
    simulate_windows,
    simulate_windows_timed,
    window_module,
)
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
    # Conv2D 3x3 "valid" over 12x32x3: a line buffer row of 32*3*6 = 576 bits, inferred RAM
    "conv_valid_ram": ((12, 32), 3, Window((3, 3), (1, 1), (1, 1), ((0, 0), (0, 0)))),
    # strided "same" conv 3x3 stride 2 over 9x9 (right/bottom pad 1), and a 5x1 image (one column)
    "stride2_same": ((9, 9), 1, Window((3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)))),
    "one_column": ((5, 1), 2, Window((3, 1), (1, 1), (1, 1), ((1, 1), (0, 0)))),
    # Conv1D k=3 dilation 2 stride 2 with padding, over (20, 2)
    "conv1d_dilated": ((20,), 2, Window((3,), (2,), (2,), ((2, 1),))),
    # inferred RAM (22*4*6 = 528 bits a row) read a step ahead across virtual columns and rows: "same" padding
    # with dilation 2 along the rows (2 virtual columns a row), stride 2 down the columns
    "ram_padded_dilated": ((7, 22), 4, Window((3, 3), (2, 1), (1, 2), ((1, 1), (2, 2)))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_windows_equal_emulator(case, verilator_exe, rtl_cache):
    spatial, c, win = CASES[case]
    fill = T.min_mantissa if case.startswith("pool") else 0
    rng = np.random.default_rng(len(case))
    x = rng.integers(T.min_mantissa, T.max_mantissa + 1, size=(100, *spatial, c))
    want = windows(x, win, fill)
    for seed in (0, 12345):  # 0: no stalls; else about 1 cycle in 4 without in_valid, 1 in 4 without out_ready
        got, cycles, (in_at, out_at) = simulate_windows_timed(x, win, T, seed=seed, fill=fill, cache_dir=rtl_cache)
        assert got.shape == want.shape
        bad = np.argwhere(got != want)
        assert bad.size == 0, f"{len(bad)} of {want.size} window values differ; first at {tuple(bad[0])}"
        if seed == 0:  # cycles per image, measured = stated; a pixel every cycle while windows leave
            assert measured(in_at, out_at, len(x)) == stated([Stage("window", geometry(spatial, win))],
                                                             int(np.prod(spatial)))
            w = spatial[-1]
            assert np.all(np.diff(in_at[:w]) == 1)  # within a row, a pixel every cycle
        else:
            assert cycles > 100 * cycles_per_image(spatial, win) * 1.2


def test_cycles_per_image():
    """A pixel per cycle: H*W cycles per image without right/bottom padding, one more step per virtual column and
    row otherwise; the window after the pixel that completes it."""
    valid = Window((3, 3), (1, 1), (1, 1), ((0, 0), (0, 0)))
    assert cycles_per_image((32, 32), valid) == 32 * 32
    assert stated([Stage("window", geometry((32, 32), valid))], 32 * 32) == (32 * 32, 32 * 32)
    same = Window((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    assert cycles_per_image((32, 32), same) == 33 * 33
    pool = Window((2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)))
    assert cycles_per_image((7, 9), pool) == 7 * 9
    assert "inferred RAM" in window_module("w", (12, 32), 3, valid, 6) and RAM_THRESHOLD_BITS <= 32 * 3 * 6
    small = window_module("w", (8, 8), 2, same, 6)  # rows under the threshold: shift registers, no read address
    assert "shift registers" in small and "lb0 [" not in small and "rd =" not in small


def test_unsupported_windows_are_refused():
    with pytest.raises(BackendSupportError, match="padding"):
        window_module("w", (8, 8), 1, Window((3, 3), (1, 1), (1, 1), ((3, 0), (0, 0))), 8)
    with pytest.raises(BackendSupportError, match="3D window"):
        window_module("w", (4, 4, 4), 1, Window((2, 2, 2), (1, 1, 1), (1, 1, 1), ((0, 0),) * 3), 8)
    with pytest.raises(NnfpgaError, match="shape"):
        simulate_windows(np.zeros((2, 8, 1)), Window((3, 3), (1, 1), (1, 1), ((0, 0), (0, 0))), T)
