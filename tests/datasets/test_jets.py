"""Tests for nnfpga.datasets.jets: the synthetic generator and the real-data loader."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from nnfpga.datasets import CLASSES, FEATURES, load_jets, make_jets, standardize
from nnfpga.errors import DatasetError, NnfpgaError

G, Q, W, Z, T = range(5)


@pytest.fixture(scope="module")
def jets() -> tuple[np.ndarray, np.ndarray]:
    return make_jets(20_000, seed=0)


def col(name: str) -> int:
    return FEATURES.index(name)


# --- make_jets ---------------------------------------------------------------


def test_feature_and_class_names() -> None:
    assert len(FEATURES) == 16 and len(set(FEATURES)) == 16
    assert FEATURES[0] == "zlogz" and FEATURES[-2:] == ("mass_mmdt", "multiplicity")
    assert CLASSES == ("g", "q", "w", "z", "t")


def test_shapes_and_dtypes(jets: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = jets
    assert X.shape == (20_000, 16) and X.dtype == np.float32
    assert y.shape == (20_000,) and y.dtype == np.int64
    assert np.all(np.isfinite(X))
    assert set(np.unique(y)) == set(range(5))


def test_deterministic_for_a_seed() -> None:
    X1, y1 = make_jets(500, seed=7)
    X2, y2 = make_jets(500, seed=7)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, _ = make_jets(500, seed=8)
    assert not np.array_equal(X1, X3)


def test_default_seed_is_zero() -> None:
    np.testing.assert_array_equal(make_jets(50)[0], make_jets(50, seed=0)[0])


@pytest.mark.parametrize("n", [1000, 1003, 4])
def test_classes_balanced(n: int) -> None:
    _, y = make_jets(n, seed=1)
    counts = np.bincount(y, minlength=5)
    assert counts.sum() == n
    assert counts.max() - counts.min() <= 1


def test_classes_shuffled() -> None:
    _, y = make_jets(1000, seed=0)
    assert not np.array_equal(y, np.arange(1000) % 5)


def test_empty_and_invalid_n() -> None:
    X, y = make_jets(0)
    assert X.shape == (0, 16) and y.shape == (0,)
    with pytest.raises(DatasetError, match="non-negative integer"):
        make_jets(-1)
    with pytest.raises(DatasetError, match="non-negative integer"):
        make_jets(2.5)  # type: ignore[arg-type]


def test_physically_flavoured(jets: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = jets

    def median(feature: str, c: int) -> float:
        return float(np.median(X[y == c, col(feature)]))

    # groomed mass peaks: q < g << W < Z < t
    assert median("mass_mmdt", Q) < median("mass_mmdt", G) < 50
    assert 75 < median("mass_mmdt", W) < 86 < median("mass_mmdt", Z) < 96
    assert 160 < median("mass_mmdt", T) < 185
    # gluon jets have more constituents than quark jets; integer, positive
    mult = X[:, col("multiplicity")]
    assert np.all(mult == np.round(mult)) and mult.min() >= 2
    assert median("multiplicity", G) > median("multiplicity", Q) + 5
    assert np.all(X[:, col("mass_mmdt")] > 0)
    assert np.all(X[:, col("zlogz")] < 0)
    # 2-prong W/Z have lower D2/N2 than 1-prong g/q; 3-prong tops lie in between
    for feature in ("d2_b1_mmdt", "n2_b1_mmdt", "c2_b1_mmdt"):
        assert median(feature, W) < median(feature, T) < median(feature, Q) < median(feature, G)
    ecf = [f for f in FEATURES if f.endswith("_mmdt") and f != "mass_mmdt"]
    assert np.all(X[:, [col(f) for f in ecf]] > 0)


def test_correlated_features(jets: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = jets
    corr = np.corrcoef(X, rowvar=False)
    assert corr[col("d2_b1_mmdt"), col("d2_b2_mmdt")] > 0.7
    assert corr[col("c1_b2_mmdt"), col("mass_mmdt")] > 0.5
    assert corr[col("zlogz"), col("multiplicity")] < -0.5


def test_learnable_but_not_trivial(jets: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = jets
    Xs, mean, std = standardize(X[:15_000])
    Xt, _, _ = standardize(X[15_000:], mean, std)
    clf = LogisticRegression(max_iter=300).fit(Xs, y[:15_000])
    acc = clf.score(Xt, y[15_000:])
    assert 0.55 < acc < 0.95
    # W/Z and g/q are the hard pairs: jets of those classes are often given the wrong one
    pred = clf.predict(Xt)
    yt = y[15_000:]
    for a, b in [(W, Z), (G, Q)]:
        pair = np.isin(yt, (a, b))
        assert 0.4 < np.mean(pred[pair] == yt[pair]) < 0.9


# --- standardize -------------------------------------------------------------


def test_standardize() -> None:
    X, _ = make_jets(2000, seed=3)
    Xs, mean, std = standardize(X)
    assert Xs.dtype == mean.dtype == std.dtype == np.float32
    np.testing.assert_allclose(Xs.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(Xs.std(axis=0), 1, atol=1e-4)
    X2, m2, s2 = standardize(X[:10], mean, std)
    np.testing.assert_allclose(X2, Xs[:10], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(m2, mean)
    np.testing.assert_array_equal(s2, std)


def test_standardize_constant_column() -> None:
    X = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    Xs, mean, std = standardize(X)
    np.testing.assert_array_equal(mean, [2.0, 5.0])
    np.testing.assert_array_equal(std, [1.0, 1.0])
    np.testing.assert_array_equal(Xs, [[-1.0, 0.0], [1.0, 0.0]])


# --- load_jets ---------------------------------------------------------------


@pytest.fixture
def small() -> tuple[np.ndarray, np.ndarray]:
    return make_jets(40, seed=5)


def _fmt(v: float) -> str:
    return repr(float(v))


def write_arff(path: Path, X: np.ndarray, y: np.ndarray, *, shuffle_columns: bool = True) -> None:
    """An ARFF file like OpenML's: nominal class, comments, quoted names, extra column."""
    order = list(range(16))[::-1] if shuffle_columns else list(range(16))
    lines = ["% hls4ml_lhc_jets_hlf test extract", "@RELATION 'hls4ml_lhc_jets_hlf'", ""]
    lines.append("@ATTRIBUTE 'extra' NUMERIC")
    for j in order:
        name = f"'{FEATURES[j]}'" if j % 2 else FEATURES[j]
        lines.append(f"@attribute {name} real" if j % 3 else f"@ATTRIBUTE {name} NUMERIC")
    lines.append("@ATTRIBUTE class {'g','q','t','w','z'}")
    lines += ["", "@DATA", "% rows follow"]
    for i in range(len(y)):
        label = CLASSES[y[i]]
        label = f"'{label}'" if i % 2 else label
        lines.append(",".join(["0", *[_fmt(X[i, j]) for j in order], label]))
    path.write_text("\n".join(lines) + "\n")


def write_csv(path: Path, X: np.ndarray, y: np.ndarray) -> None:
    header = ",".join([*FEATURES, "class"])
    rows = [",".join([*(_fmt(v) for v in X[i]), CLASSES[y[i]]]) for i in range(len(y))]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def test_load_arff_round_trip(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = small
    p = tmp_path / "jets.arff"
    write_arff(p, X, y)
    X2, y2 = load_jets(p)
    assert X2.dtype == np.float32 and y2.dtype == np.int64
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_load_arff_gz_and_str_path(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = small
    plain = tmp_path / "jets.arff"
    write_arff(plain, X, y, shuffle_columns=False)
    gz = tmp_path / "jets.arff.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    X2, y2 = load_jets(str(gz))
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_load_csv_round_trip(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = small
    p = tmp_path / "jets.csv"
    write_csv(p, X, y)
    X2, y2 = load_jets(p)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_load_csv_hdf5_style_names(tmp_path: Path) -> None:
    # j_ prefixes / upper case as in the original HDF5 files, labels as j_<class>
    header = ",".join([*(f"j_{f}" for f in FEATURES), "CLASS"])
    rows = [",".join(["1.5"] * 16 + ["j_t"]), ",".join(["-2"] * 16 + ["W"])]
    p = tmp_path / "jets.csv"
    p.write_text(header + "\n" + "\n".join(rows) + "\n")
    X, y = load_jets(p)
    np.testing.assert_array_equal(X[:, 0], [1.5, -2.0])
    np.testing.assert_array_equal(y, [T, W])


def test_load_npz_round_trip(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = small
    for name, labels in [
        ("int.npz", y.astype(np.int32)),
        ("str.npz", np.array(CLASSES)[y]),
        ("onehot.npz", np.eye(5, dtype=np.float32)[y]),
    ]:
        p = tmp_path / name
        np.savez(p, X=X.astype(np.float64), y=labels)
        X2, y2 = load_jets(p)
        assert X2.dtype == np.float32 and y2.dtype == np.int64
        np.testing.assert_array_equal(X2, X)
        np.testing.assert_array_equal(y2, y)


def test_dataset_error_hierarchy() -> None:
    assert issubclass(DatasetError, NnfpgaError)
    assert issubclass(DatasetError, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.arff"
    with pytest.raises(DatasetError) as exc:
        load_jets(p)
    assert str(exc.value) == f"jet data set file {str(p)!r}: not found; expected an .arff, .csv or .npz file"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="a directory, not a file"):
        load_jets(tmp_path)


def test_unsupported_extension(tmp_path: Path) -> None:
    p = tmp_path / "jets.h5"
    p.write_bytes(b"")
    with pytest.raises(DatasetError) as exc:
        load_jets(p)
    assert str(exc.value) == (
        f"{str(p)!r}: unsupported file type '.h5'; expected .arff, .csv or .npz (optionally .arff.gz / .csv.gz)"
    )


def test_csv_missing_columns(tmp_path: Path) -> None:
    header = [f for f in FEATURES if f not in ("mass_mmdt", "zlogz")]
    p = tmp_path / "jets.csv"
    p.write_text(",".join(header) + "\n" + ",".join(["1"] * 14) + "\n")
    with pytest.raises(DatasetError) as exc:
        load_jets(p)
    assert str(exc.value) == (
        f"{str(p)!r}: missing column(s) ['zlogz', 'mass_mmdt', 'class']; expected the 16 jet features "
        f"and the label column 'class', found columns {header}"
    )


def test_arff_missing_class_attribute(tmp_path: Path) -> None:
    p = tmp_path / "jets.arff"
    attrs = "\n".join(f"@attribute {f} numeric" for f in FEATURES)
    p.write_text(f"@relation x\n{attrs}\n@data\n" + ",".join(["0"] * 16) + "\n")
    with pytest.raises(DatasetError, match=re.escape("missing column(s) ['class']")):
        load_jets(p)


def test_arff_without_data_section(tmp_path: Path) -> None:
    p = tmp_path / "jets.arff"
    p.write_text("@relation x\n@attribute zlogz numeric\n")
    with pytest.raises(DatasetError, match="no @data section"):
        load_jets(p)


def test_unknown_label(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = small
    p = tmp_path / "jets.csv"
    write_csv(p, X[:3], y[:3])
    p.write_text(p.read_text().replace(f",{CLASSES[y[1]]}\n", ",higgs\n", 1))
    with pytest.raises(DatasetError) as exc:
        load_jets(p)
    assert str(exc.value) == (
        f"{str(p)!r}: unknown class label(s) ['higgs']; expected one of ['g', 'q', 'w', 'z', 't'] "
        "or an integer index 0..4"
    )


def test_bad_row_length_and_value(tmp_path: Path) -> None:
    header = ",".join([*FEATURES, "class"])
    p = tmp_path / "jets.csv"
    p.write_text(header + "\n" + ",".join(["1"] * 16 + ["g"]) + "\n" + ",".join(["1"] * 15 + ["g"]) + "\n")
    with pytest.raises(DatasetError, match=r"data row 2 has 16 values, expected 17"):
        load_jets(p)
    p.write_text(header + "\n" + ",".join(["1"] * 15 + ["abc", "g"]) + "\n")
    with pytest.raises(DatasetError, match=r"non-numeric feature value in data row 1"):
        load_jets(p)
    p.write_text(header + "\n")
    with pytest.raises(DatasetError, match="no data rows found"):
        load_jets(p)


def test_npz_missing_arrays(tmp_path: Path) -> None:
    p = tmp_path / "jets.npz"
    np.savez(p, features=np.zeros((2, 16)), y=np.zeros(2, dtype=int))
    with pytest.raises(DatasetError) as exc:
        load_jets(p)
    assert str(exc.value) == f"{str(p)!r}: expected arrays 'X' and 'y', found ['features', 'y']"


def test_npz_bad_shapes(tmp_path: Path) -> None:
    p = tmp_path / "jets.npz"
    np.savez(p, X=np.zeros((2, 15)), y=np.zeros(2, dtype=int))
    with pytest.raises(DatasetError, match=re.escape("X has shape (2, 15), expected (n, 16)")):
        load_jets(p)
    np.savez(p, X=np.zeros((2, 16)), y=np.array([0, 5]))
    with pytest.raises(DatasetError, match=re.escape("class indices span 0..5, expected 0..4")):
        load_jets(p)
