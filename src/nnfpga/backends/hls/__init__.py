"""HLS C++ backend (Vitis HLS projects, C-simulated with g++): ``lower.py`` maps each op to a call of the layer
library (``library/``), ``recurrent.py`` the recurrent ops (imported here so that its lowerings are registered
whichever module is imported first), ``stream.py`` the io_stream form, ``writer.py`` the project files."""

from nnfpga.backends.hls import recurrent as _recurrent  # noqa: F401 - registers lstm, gru, simple_rnn
