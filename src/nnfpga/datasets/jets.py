"""LHC jet-tagging data: 16 high-level jet features -> 5 classes (g, q, W, Z, t).

The real data set is OpenML 42468 ``hls4ml_lhc_jets_hlf`` (about 830k jets, the
classic hls4ml example). It cannot be fetched from here, so this module offers

* :func:`make_jets`, a deterministic *synthetic* stand-in with the same 16
  columns and 5 classes and a similar difficulty, for examples and tests, and
* :func:`load_jets`, which reads the real data set from a local ``.arff``,
  ``.csv`` or ``.npz`` file (optionally gzip-compressed) you downloaded yourself.

Class indices follow :data:`CLASSES` = ``("g", "q", "w", "z", "t")``. Note that
``sklearn.preprocessing.LabelEncoder`` on the OpenML labels sorts them
alphabetically (g, q, t, w, z); :func:`load_jets` maps labels by *name*, so its
indices always follow :data:`CLASSES`.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from nnfpga.errors import DatasetError

__all__ = ["CLASSES", "FEATURES", "LABEL_COLUMN", "load_jets", "make_jets", "standardize"]

#: The 16 input features, in the column order of OpenML 42468.
FEATURES: tuple[str, ...] = (
    "zlogz",
    "c1_b0_mmdt",
    "c1_b1_mmdt",
    "c1_b2_mmdt",
    "c2_b1_mmdt",
    "c2_b2_mmdt",
    "d2_b1_mmdt",
    "d2_b2_mmdt",
    "d2_a1_b1_mmdt",
    "d2_a1_b2_mmdt",
    "m2_b1_mmdt",
    "m2_b2_mmdt",
    "n2_b1_mmdt",
    "n2_b2_mmdt",
    "mass_mmdt",
    "multiplicity",
)

#: Class names; a label's index in this tuple is its integer class.
CLASSES: tuple[str, ...] = ("g", "q", "w", "z", "t")

#: Name of the label column in the OpenML ARFF/CSV files.
LABEL_COLUMN = "class"

_PT = 1000.0  # nominal jet transverse momentum in GeV; the real sample is pT ~ 1 TeV

# Per-class generator parameters, indexed like CLASSES (g, q, W, Z, t).
_PRONGS = np.array([1, 1, 2, 2, 3])
# groomed mass: core peak (GeV) and width, plus the fraction/scale of a low-mass QCD-like tail
_MASS_PEAK = np.array([0.0, 0.0, 80.4, 91.2, 173.0])
_MASS_WIDTH = np.array([0.0, 0.0, 10.0, 10.0, 18.0])
_MASS_TAIL_FRAC = np.array([1.0, 1.0, 0.08, 0.08, 0.05])
_MASS_TAIL_SCALE = np.array([32.0, 22.0, 25.0, 25.0, 30.0])  # mean of the gamma-distributed tail
# tops whose b quark was groomed away: mass near the W peak
_TOP_WMASS_FRAC = 0.12
# "broadness" latent (amount of soft radiation): mean, sd
_BROAD_MEAN = np.array([0.90, 0.40, 0.45, 0.50, 0.80])
_BROAD_SD = 0.35
# charged+neutral constituent multiplicity: base, slope in broadness
_MULT_BASE = np.array([42.0, 28.0, 32.0, 33.0, 45.0])
_MULT_SLOPE = 16.0


def make_jets(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` synthetic jets with the 16 features of ``hls4ml_lhc_jets_hlf``.

    **This is synthetic data, not physics.** The distributions are loosely
    modelled on boosted-jet phenomenology so that the task behaves like the real
    one (the 16-64-32-32-5 MLP of :mod:`nnfpga.examples` reaches about 75 % test
    accuracy, logistic regression about 70 %; the real data set gives
    about 76 %), but no shower, hadronisation, grooming or detector is simulated
    and the feature values are not physically accurate. Use :func:`load_jets`
    with the real OpenML file for anything physics-related.

    How each jet is drawn (class ``c`` is chosen with equal frequency):

    * ``mass_mmdt`` (GeV): gluon and light-quark jets have a falling, gamma-shaped
      groomed mass (gluons heavier); W and Z jets peak at 80.4 and 91.2 GeV with a
      10 GeV resolution, so W and Z overlap strongly; top jets peak at 173 GeV,
      with 12 % near the W mass (b quark groomed away). Boson/top jets also have a
      small low-mass tail (failed grooming).
    * a latent *broadness* (soft radiation) that is larger for gluon and top jets;
      ``multiplicity`` (integer) grows with it, so gluon jets have more
      constituents than quark jets; ``zlogz`` (negative) falls with it.
    * a latent *prong structure* score: 1-prong jets (g, q) look most unlike
      2-prong ones (W, Z), 3-prong tops sit in between; it drives the
      energy-correlation ratios ``c2_*``, ``d2_*``, ``d2_a1_*``, ``m2_*`` and
      ``n2_*`` (small values = 2-prong-like), together with the broadness and
      shared multiplicative noise, so the families are correlated with each other.
    * ``c1_b0/b1/b2`` (two-point correlators) scale with broadness and with
      ``(mass / pT)`` to the powers 0, 1, 2, so they are correlated with the mass.

    Args:
        n: number of jets (>= 0).
        seed: seed for :func:`numpy.random.default_rng`; equal seeds give
            bit-identical output.

    Returns:
        ``(X, y)`` with ``X`` float32 of shape ``(n, 16)`` in the column order of
        :data:`FEATURES` and ``y`` int64 class indices into :data:`CLASSES`.
    """
    if int(n) != n or n < 0:
        raise DatasetError(f"n must be a non-negative integer, got {n!r}")
    n = int(n)
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
    prongs = _PRONGS[y]

    # --- groomed mass ---------------------------------------------------------
    core = _MASS_PEAK[y] + _MASS_WIDTH[y] * rng.standard_normal(n)
    is_top_w = (y == 4) & (rng.random(n) < _TOP_WMASS_FRAC)
    core = np.where(is_top_w, 80.4 + 12.0 * rng.standard_normal(n), core)
    shape_k = 2.0
    tail = rng.gamma(shape_k, _MASS_TAIL_SCALE[y] / shape_k)
    in_tail = rng.random(n) < _MASS_TAIL_FRAC[y]
    mass = np.where(in_tail, tail, core)
    mass = np.clip(mass, 0.5, 400.0)
    # effective number of resolved prongs: a top that lost its b looks 2-prong
    eff_prongs = np.where(is_top_w, 2, prongs)
    eff_prongs = np.where(in_tail & (prongs > 1), 1, eff_prongs)

    # --- latent broadness and multiplicity ------------------------------------
    broad = _BROAD_MEAN[y] + _BROAD_SD * rng.standard_normal(n)
    mult_mean = _MULT_BASE[y] + _MULT_SLOPE * broad + 0.04 * mass
    multiplicity = np.maximum(2.0, np.round(mult_mean + 0.22 * mult_mean * rng.standard_normal(n)))
    zlogz = -0.62 * np.log(multiplicity) - 0.25 * broad + 0.22 * rng.standard_normal(n)

    # --- prong-structure score: ~0 for 2-prong, ~1 for 1-prong, ~0.6 for 3-prong
    prong_level = np.select([eff_prongs == 1, eff_prongs == 2], [1.0, 0.0], 0.6)
    structure = prong_level + 0.30 * broad + 0.35 * rng.standard_normal(n)

    # shared multiplicative noise (correlates the ECF families) + per-feature noise
    common = 0.20 * rng.standard_normal(n)

    def lognoise(sd: float) -> np.ndarray:
        return np.exp(common + sd * rng.standard_normal(n))

    m_over_pt = mass / _PT
    c1_b0 = (0.25 + 0.10 * broad + 0.6 * m_over_pt) * lognoise(0.12)
    c1_b1 = (0.04 + 0.35 * m_over_pt + 0.02 * broad) * lognoise(0.15)
    c1_b2 = (0.004 + 0.25 * m_over_pt**2 + 0.003 * broad) * lognoise(0.20)
    s = np.exp(0.9 * structure)  # > 0, larger = less 2-prong-like
    c2_b1 = 0.11 * s * lognoise(0.15)
    c2_b2 = 0.06 * s**1.2 * lognoise(0.20)
    d2_b1 = 1.0 * s**1.3 * lognoise(0.18)
    d2_b2 = 1.4 * s**1.5 * lognoise(0.22)
    d2_a1_b1 = 0.9 * s**1.1 * (1.0 + 0.3 * broad) * lognoise(0.18)
    d2_a1_b2 = 1.1 * s**1.2 * (1.0 + 0.3 * broad) * lognoise(0.22)
    m2_b1 = 0.012 * s**0.6 * (1.0 + broad) * lognoise(0.30)
    m2_b2 = 0.008 * s**0.7 * (1.0 + broad) * lognoise(0.35)
    n2_b1 = 0.14 * s**0.8 * lognoise(0.15)
    n2_b2 = 0.10 * s**0.9 * lognoise(0.20)

    columns = {
        "zlogz": zlogz,
        "c1_b0_mmdt": c1_b0,
        "c1_b1_mmdt": c1_b1,
        "c1_b2_mmdt": c1_b2,
        "c2_b1_mmdt": c2_b1,
        "c2_b2_mmdt": c2_b2,
        "d2_b1_mmdt": d2_b1,
        "d2_b2_mmdt": d2_b2,
        "d2_a1_b1_mmdt": d2_a1_b1,
        "d2_a1_b2_mmdt": d2_a1_b2,
        "m2_b1_mmdt": m2_b1,
        "m2_b2_mmdt": m2_b2,
        "n2_b1_mmdt": n2_b1,
        "n2_b2_mmdt": n2_b2,
        "mass_mmdt": mass,
        "multiplicity": multiplicity,
    }
    X = np.stack([columns[name] for name in FEATURES], axis=1).astype(np.float32)
    return X, y


def standardize(
    X: np.ndarray, mean: np.ndarray | None = None, std: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale each column to zero mean and unit variance.

    Pass the ``mean``/``std`` returned for the training set to transform the
    test set identically. Constant columns (std 0) are left unscaled.

    Returns:
        ``(Xs, mean, std)``, all float32; ``Xs = (X - mean) / std``.
    """
    X = np.asarray(X, dtype=np.float32)
    mean = X.mean(axis=0, dtype=np.float64) if mean is None else np.asarray(mean)
    if std is None:
        std = X.std(axis=0, dtype=np.float64)
    std = np.where(np.asarray(std) > 0, std, 1.0)
    mean32 = np.asarray(mean, dtype=np.float32)
    std32 = np.asarray(std, dtype=np.float32)
    return ((X - mean32) / std32).astype(np.float32), mean32, std32


# ----------------------------------------------------------------------------
# Loading the real data set
# ----------------------------------------------------------------------------


def load_jets(path: str | os.PathLike[str], label_column: str = LABEL_COLUMN) -> tuple[np.ndarray, np.ndarray]:
    """Load ``hls4ml_lhc_jets_hlf`` (OpenML 42468) from a local file.

    Supported formats (chosen by extension; ``.gz`` compression is undone first):

    * ``.arff``: OpenML's download format. The ``@attribute`` header is parsed
      here (no liac-arff needed); columns are matched by name, so their order
      and extra columns do not matter.
    * ``.csv``: a header row with the 16 :data:`FEATURES` names and ``class``.
    * ``.npz``: arrays ``X`` (n, 16) in :data:`FEATURES` order and ``y``, either
      class indices into :data:`CLASSES`, class names, or one-hot rows (n, 5).

    Column names match exactly, else ignoring case and a ``j_`` prefix (the
    names used in the original HDF5 files). Labels are the class names
    ``g q w z t`` (any case, optional ``j_`` prefix) or integer indices into
    :data:`CLASSES`.

    Returns:
        ``(X, y)``: X float32 (n, 16) in :data:`FEATURES` order, y int64 in
        :data:`CLASSES` order.

    Raises:
        DatasetError: the file is missing, has an unsupported extension, lacks a
            column/array, or holds values that cannot be parsed.
    """
    p = Path(path)
    if not p.is_file():
        what = "a directory, not a file" if p.exists() else "not found"
        raise DatasetError(f"jet data set file {str(p)!r}: {what}; expected an .arff, .csv or .npz file")
    suffixes = [s.lower() for s in p.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    kind = suffixes[-2] if compressed and len(suffixes) >= 2 else (suffixes[-1] if suffixes else "")
    if kind == ".npz":
        if compressed:
            raise DatasetError(f"{str(p)!r}: .npz files are already compressed; expected a plain .npz file")
        return _load_npz(p)
    if kind not in (".arff", ".csv"):
        raise DatasetError(
            f"{str(p)!r}: unsupported file type {''.join(p.suffixes) or '(no extension)'!r}; "
            "expected .arff, .csv or .npz (optionally .arff.gz / .csv.gz)"
        )
    opener = gzip.open if compressed else open
    try:
        with opener(p, "rt", encoding="utf-8", newline="") as fh:
            if kind == ".arff":
                return _parse_arff(fh, p, label_column)
            return _parse_csv(fh, p, label_column)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DatasetError(f"{str(p)!r}: cannot read file ({exc})") from exc


def _norm_name(name: str) -> str:
    name = name.strip().lower()
    return name[2:] if name.startswith("j_") else name


def _column_indices(header: Sequence[str], path: Path, label_column: str) -> tuple[list[int], int]:
    """Map FEATURES and the label column to column positions in ``header``."""
    exact = {h: i for i, h in enumerate(header)}
    loose: dict[str, int] = {}
    for i, h in enumerate(header):
        loose.setdefault(_norm_name(h), i)

    def find(name: str) -> int | None:
        if name in exact:
            return exact[name]
        return loose.get(_norm_name(name))

    wanted = [*FEATURES, label_column]
    found = [find(name) for name in wanted]
    missing = [name for name, idx in zip(wanted, found, strict=True) if idx is None]
    if missing:
        raise DatasetError(
            f"{str(path)!r}: missing column(s) {missing}; expected the 16 jet features and the label "
            f"column {label_column!r}, found columns {list(header)}"
        )
    cols = [int(i) for i in found if i is not None]
    return cols[:-1], cols[-1]


_LABEL_LOOKUP = {name: i for i, name in enumerate(CLASSES)}


def _labels_to_indices(labels: Sequence[str] | np.ndarray, path: Path) -> np.ndarray:
    arr = np.asarray(labels)
    uniq, inverse = np.unique(arr.astype(str), return_inverse=True)
    mapping = np.empty(len(uniq), dtype=np.int64)
    bad: list[str] = []
    for k, raw in enumerate(uniq):
        key = _norm_name(str(raw).strip().strip("'\""))
        if key in _LABEL_LOOKUP:
            mapping[k] = _LABEL_LOOKUP[key]
        elif re.fullmatch(r"[+-]?\d+(\.0*)?", key) and 0 <= int(float(key)) < len(CLASSES):
            mapping[k] = int(float(key))
        else:
            bad.append(str(raw))
    if bad:
        raise DatasetError(
            f"{str(path)!r}: unknown class label(s) {bad[:10]}; expected one of {list(CLASSES)} "
            f"or an integer index 0..{len(CLASSES) - 1}"
        )
    return mapping[inverse.reshape(-1)]


def _rows_to_arrays(
    rows: Iterator[list[str]], feat_cols: list[int], label_col: int, ncols: int, path: Path, first_line: int
) -> tuple[np.ndarray, np.ndarray]:
    """Convert parsed text rows to (X, y), chunk by chunk to bound memory."""
    chunk = 65536
    xs: list[np.ndarray] = []
    labels: list[str] = []
    buf: list[list[str]] = []
    line = first_line

    def flush() -> None:
        if not buf:
            return
        try:
            block = np.array([[r[i] for i in feat_cols] for r in buf], dtype=np.float64)
        except ValueError as exc:
            for k, r in enumerate(buf):
                try:
                    [float(r[i]) for i in feat_cols]
                except ValueError:
                    raise DatasetError(
                        f"{str(path)!r}: non-numeric feature value in data row {line - len(buf) + k + 1}: {r}"
                    ) from exc
            raise  # pragma: no cover - np.array failed on something float() accepts
        xs.append(block.astype(np.float32))
        labels.extend(r[label_col] for r in buf)
        buf.clear()

    for row in rows:
        line += 1
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != ncols:
            raise DatasetError(f"{str(path)!r}: data row {line} has {len(row)} values, expected {ncols}")
        buf.append(row)
        if len(buf) >= chunk:
            flush()
    flush()
    if not xs:
        raise DatasetError(f"{str(path)!r}: no data rows found")
    X = np.concatenate(xs)
    if not np.all(np.isfinite(X)):
        bad_row = int(np.argwhere(~np.isfinite(X))[0, 0])
        raise DatasetError(f"{str(path)!r}: missing or non-finite feature value in data row {bad_row + 1}")
    return X, _labels_to_indices(labels, path)


def _parse_csv(fh: io.TextIOBase, path: Path, label_column: str) -> tuple[np.ndarray, np.ndarray]:
    reader = csv.reader(fh, skipinitialspace=True)
    header = next(reader, None)
    if header is None:
        raise DatasetError(f"{str(path)!r}: empty file; expected a CSV header naming the columns")
    header = [h.strip() for h in header]
    feat_cols, label_col = _column_indices(header, path, label_column)
    return _rows_to_arrays(reader, feat_cols, label_col, len(header), path, first_line=0)


_ATTR_RE = re.compile(r"""@attribute\s+('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+)\s+(.+)$""", re.IGNORECASE)


def _parse_arff(fh: io.TextIOBase, path: Path, label_column: str) -> tuple[np.ndarray, np.ndarray]:
    names: list[str] = []
    saw_data = False
    for raw in fh:
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        low = line.lower()
        if low.startswith("@attribute"):
            m = _ATTR_RE.match(line)
            if m is None:
                raise DatasetError(f"{str(path)!r}: malformed ARFF attribute line {line!r}")
            name = m.group(1)
            if name[0] in "'\"":
                name = name[1:-1]
            names.append(name)
        elif low.startswith("@data"):
            saw_data = True
            break
        elif low.startswith(("@relation", "@end")):
            continue
        else:
            raise DatasetError(f"{str(path)!r}: unexpected line in ARFF header {line!r}; expected @attribute or @data")
    if not saw_data:
        raise DatasetError(f"{str(path)!r}: no @data section; expected an ARFF file with @attribute lines and @data")
    feat_cols, label_col = _column_indices(names, path, label_column)

    def data_lines() -> Iterator[str]:
        for line in fh:
            s = line.strip()
            if not s or s.startswith("%"):
                continue
            if s.startswith("{"):
                raise DatasetError(f"{str(path)!r}: sparse ARFF data is not supported; expected dense rows")
            yield s

    def data_rows() -> Iterator[list[str]]:
        for row in csv.reader(data_lines(), quotechar="'", skipinitialspace=True):
            yield [v.strip().strip('"') for v in row]

    return _rows_to_arrays(data_rows(), feat_cols, label_col, len(names), path, first_line=0)


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            names = sorted(data.files)
            if "X" not in names or "y" not in names:
                raise DatasetError(f"{str(path)!r}: expected arrays 'X' and 'y', found {names}")
            X = np.asarray(data["X"])
            y = np.asarray(data["y"])
    except DatasetError:
        raise
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{str(path)!r}: cannot read .npz file ({exc})") from exc
    if X.ndim != 2 or X.shape[1] != len(FEATURES):
        raise DatasetError(f"{str(path)!r}: X has shape {X.shape}, expected (n, {len(FEATURES)})")
    if y.ndim == 2 and y.shape[1] == len(CLASSES):
        y = np.argmax(y, axis=1)
    if y.shape != (X.shape[0],):
        raise DatasetError(f"{str(path)!r}: y has shape {y.shape}, expected ({X.shape[0]},) or ({X.shape[0]}, 5)")
    if y.dtype.kind in "iu":
        if y.size and (y.min() < 0 or y.max() >= len(CLASSES)):
            raise DatasetError(
                f"{str(path)!r}: class indices span {int(y.min())}..{int(y.max())}, expected 0..{len(CLASSES) - 1}"
            )
        y = y.astype(np.int64)
    else:
        y = _labels_to_indices(y, path)
    try:
        X = X.astype(np.float32)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{str(path)!r}: X is not numeric (dtype {X.dtype})") from exc
    return X, y
