"""Training in these tests runs PyTorch (Keras's torch backend, or torch directly) on one thread: these small models
train fastest so, and several threads per process collapse when the 2-core machine is busy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
