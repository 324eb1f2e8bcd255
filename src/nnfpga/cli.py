"""Command line: ``nnfpga convert | config | predict | build | synth | estimate | report | summary | passes | demo``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nnfpga.errors import ConfigError, EmulationError, NnfpgaError, OutputDirError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except NnfpgaError as exc:
        print(f"nnfpga {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnfpga", description="Compile neural networks into bit-exact FPGA firmware.")
    sub = p.add_subparsers(dest="command")

    c = sub.add_parser("convert", help="convert a Keras model (or the model an hls4ml project YAML names) into a "
                                        "project directory")
    c.add_argument("model", nargs="?", help="Keras model file (.keras or .h5); leave out with -c PROJECT.yml")
    c.add_argument("-o", "--output-dir", help="project directory (required with a model; default: the YAML's "
                                              "OutputDir)")
    c.add_argument("-c", "--config", help="with a model: hls4ml-style YAML config (Model/LayerType/LayerName; "
                                          "default: derived, see 'nnfpga config'); alone: the project YAML that "
                                          "'hls4ml convert -c' reads (KerasJson/KerasH5, KerasModel, OnnxModel, "
                                          "OutputDir, ProjectName, Part, ClockPeriod, Backend, IOType, HLSConfig)")
    c.add_argument("--calibration", help="inputs (.npy/.npz/.csv) to derive ranges when no config is given")
    c.add_argument("--backend", help="vitis (default) or verilog; overrides the project YAML's Backend")
    c.add_argument("--io-type", help="io_parallel (default) or io_stream; overrides IOType")
    c.add_argument("--project-name", help="default myproject; overrides ProjectName")
    c.add_argument("--part", help="default xcvu13p-flga2577-2-e; overrides Part")
    c.add_argument("--clock-period", type=float, help="ns, default 5; overrides ClockPeriod")
    c.add_argument("--force", action="store_true", help="replace an existing directory that is not a project")
    c.set_defaults(func=_convert)

    g = sub.add_parser("config", help="write the default YAML config for a model")
    g.add_argument("model")
    g.add_argument("-o", "--output", help="YAML file to write (default: print)")
    g.add_argument("--granularity", default="name", choices=("model", "type", "name"))
    g.add_argument("--precision", default="ap_fixed<16,6>", help="default precision")
    g.add_argument("--reuse-factor", type=int, default=1)
    g.add_argument("--calibration", help="inputs (.npy/.npz/.csv) for range calibration")
    g.add_argument("--force", action="store_true", help="overwrite an existing output file")
    g.set_defaults(func=_config)

    r = sub.add_parser("predict", help="run the bit-exact emulator of a project on inputs")
    r.add_argument("project")
    r.add_argument("-i", "--input", required=True, help="inputs (.npy/.npz/.csv)")
    r.add_argument("-o", "--output", help="write outputs to this .npy file")
    r.add_argument("--engine", default="emulator", choices=("emulator", "csim"),
                   help="emulator (NumPy, default) or csim (the generated HLS C++ compiled with g++)")
    r.add_argument("--trace", action="store_true", help="print per-layer fixed vs float errors")
    r.add_argument("--force", action="store_true", help="overwrite an existing output file")
    r.set_defaults(func=_predict)

    pf = sub.add_parser("profile", help="plot per-layer value ranges against their fixed-point types, and the "
                                         "fixed-point error, for a project on inputs (needs nnfpga[plot])")
    pf.add_argument("project")
    pf.add_argument("-i", "--input", required=True, help="inputs (.npy/.npz/.csv)")
    pf.add_argument("-o", "--output-dir", required=True, help="directory for the PNGs and profile.json")
    pf.add_argument("--force", action="store_true", help="replace an existing directory that is not a profile")
    pf.set_defaults(func=_profile)

    b = sub.add_parser("build", help="run Vitis HLS on a project (needs vitis_hls on PATH)")
    b.add_argument("project")
    b.add_argument("--cosim", action="store_true")
    b.add_argument("--export", action="store_true")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b.set_defaults(func=_build)

    y = sub.add_parser("synth", help="synthesize a project's Verilog with Yosys (ECP5: and nextpnr) and report")
    y.add_argument("project")
    y.add_argument("--target", default="xc7", choices=("xc7", "xcup", "ecp5"),
                   help="xc7 (7-series), xcup (UltraScale+): Yosys cell counts; ecp5: also place & route, Fmax")
    y.add_argument("--timeout", type=float, default=3600.0, help="time limit of each tool run in seconds")
    y.add_argument("--json", action="store_true", help="print the report as JSON")
    y.set_defaults(func=_synth)

    e = sub.add_parser("estimate", help="estimate a project's LUT, FF, DSP, BRAM, latency and II per layer from its "
                                        "Verilog design, without running any tool")
    e.add_argument("project")
    e.add_argument("--target", default="xc7", help="xc7 (7-series, Yosys synth_xilinx's mapping; the default)")
    e.add_argument("--json", action="store_true", help="print the estimate as JSON")
    e.set_defaults(func=_estimate)

    rp = sub.add_parser("report", help="print the last saved synthesis report of a project, or (--html) write a "
                                       "self-contained HTML report of the whole project")
    rp.add_argument("project")
    rp.add_argument("--target", choices=("xc7", "xcup", "ecp5"), help="this target's report (default: the latest; "
                                                                      "with --html: every saved one)")
    rp.add_argument("--json", action="store_true", help="print the report as JSON")
    rp.add_argument("--html", metavar="OUT.html", help="write an HTML report: layer graph, types, synthesis results "
                                                       "and, with -i, overflow table, trace errors and plots")
    rp.add_argument("-i", "--input", help="with --html: inputs (.npy/.npz/.csv) to emulate and trace")
    rp.add_argument("--force", action="store_true", help="with --html: replace a file that is not an nnfpga report")
    rp.set_defaults(func=_report)

    s = sub.add_parser("summary", help="print the layers and precisions of a project")
    s.add_argument("project")
    s.set_defaults(func=_summary)

    sub.add_parser("passes", help="print the optimization pass pipeline").set_defaults(func=_passes)

    w = sub.add_parser("sweep", help="sweep a design space (config keys over values) on Dask: each point's "
                                      "accuracy, argmax agreement and cost estimate (nnfpga.dse)")
    w.add_argument("model", help="Keras model file (.keras or .h5)")
    w.add_argument("--space", required=True, help="YAML space: config keys (Precision, ReuseFactor, Strategy, "
                                                  "Sparsity, ClockPeriod...) to lists of values, or under LayerName")
    w.add_argument("-i", "--input", required=True, help="inputs (.npy/.npz/.csv)")
    w.add_argument("--labels", help="labels or one-hot targets (.npy/.npz/.csv) for the accuracy")
    w.add_argument("-c", "--config", help="base hls4ml-style YAML config (default: nnfpga's defaults)")
    w.add_argument("--points", type=int, help="that many random points (default: the whole grid)")
    w.add_argument("--seed", type=int, default=0, help="of the random points")
    w.add_argument("--scheduler", help="a Dask scheduler's address (default: a local cluster of --workers "
                                       "processes); 'serial' runs in this process")
    w.add_argument("--workers", type=int, default=2, help="processes of the local cluster (default 2)")
    w.add_argument("--cache", default="nnfpga-sweep-cache", help="one JSON per finished point, so that a rerun "
                                                                 "resumes (default nnfpga-sweep-cache)")
    w.add_argument("--backend", default="verilog", help="verilog (default) or vitis")
    w.add_argument("-o", "--output", required=True, help="results table: .csv or .parquet")
    w.add_argument("--plot", help="also the Pareto front (accuracy vs cost estimate) as an image (.png/.svg/.pdf)")
    w.add_argument("--configs", help="also the front's configs as YAML files in this directory")
    w.add_argument("--force", action="store_true", help="overwrite an existing output file")
    w.set_defaults(func=_sweep)

    d = sub.add_parser("demo", help="the bundled jet-tagging example from Keras to firmware: emulation, HLS C++ "
                                    "(g++ C simulation), Verilog (Verilator, Yosys), every result checked bit-exact")
    d.add_argument("-o", "--output-dir", default="demo_out",
                   help="where the projects go: <dir>/jet_hls (HLS C++) and <dir>/jet_rtl (Verilog); default demo_out")
    d.set_defaults(func=_demo)
    return p


def load_array(path: str) -> np.ndarray:
    """Inputs from .npy, .npz (array ``X`` or the first one) or .csv (numbers, optional header)."""
    p = Path(path)
    if not p.is_file():
        raise EmulationError(f"input file {path!r} does not exist")
    try:
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return z["X"] if "X" in z.files else z[z.files[0]]
        if p.suffix == ".csv":
            return np.genfromtxt(p, delimiter=",", skip_header=_has_header(p))
    except (ValueError, OSError, KeyError, IndexError) as exc:
        raise EmulationError(f"cannot read inputs from {path!r}: {exc}") from None
    raise EmulationError(f"cannot read inputs from {path!r}: expected a .npy, .npz or .csv file")


def _has_header(p: Path) -> int:
    with open(p) as f:
        first = f.readline().split(",")[0].strip()
    try:
        float(first)
        return 0
    except ValueError:
        return 1


def _write_new(path: Path, data: bytes, force: bool) -> None:
    if path.exists() and not force:
        raise OutputDirError(f"{str(path)!r} exists; pass --force to overwrite it")
    from nnfpga.project import write_file_atomic

    write_file_atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def _read_config(path: str) -> dict[str, Any]:
    from nnfpga.config.schema import read_yaml

    return read_yaml(path)


def _convert(args: argparse.Namespace) -> int:
    import nnfpga

    if args.model is None:
        return _convert_project(args)
    if args.output_dir is None:
        raise ConfigError("convert MODEL needs -o/--output-dir (or leave the model out and name it in the project "
                          "YAML given with -c)")
    if args.config:
        cfg = _read_config(args.config)
    else:
        calib = load_array(args.calibration) if args.calibration else None
        cfg = nnfpga.config_from_keras_model(args.model, granularity="name", calibration_data=calib)
    hw = nnfpga.convert_from_keras_model(args.model, hls_config=cfg, output_dir=args.output_dir,
                                         **{k: v for k, v in _overrides(args).items() if v is not None})
    out = hw.write(force=args.force)
    print(hw.summary())
    print(f"wrote project {out}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from nnfpga.dse import load_space, sweep
    from nnfpga.frontends.keras import load_keras_model

    out = Path(args.output)
    if out.suffix not in (".csv", ".parquet"):
        raise ConfigError(f"--output {args.output!r}: expected a .csv or .parquet file")
    if out.exists() and not args.force:
        raise OutputDirError(f"{str(out)!r} exists; pass --force to overwrite it")
    space = load_space(args.space)  # checked before the model loads or a cluster starts
    model = load_keras_model(args.model)
    x = load_array(args.input)
    y = load_array(args.labels) if args.labels else None
    cfg = _read_config(args.config) if args.config else None
    res = sweep(model, space, x, y, config=cfg, backend=args.backend, n=args.points, seed=args.seed,
                scheduler=args.scheduler, workers=args.workers, cache_dir=args.cache)
    (res.to_parquet if out.suffix == ".parquet" else res.to_csv)(out)
    failed = sum(1 for r in res.rows if r["error"])
    print(f"{len(res.rows)} points ({res.computed} computed, {len(res.rows) - res.computed} from {args.cache}; "
          f"{failed} refused, reasons in the 'error' column); wrote {out}")
    score = "accuracy" if y is not None else "agreement"
    front = res.pareto(score=score)
    for r in front:
        print(f"  front: {r['point']}: {score} {r[score]:.4f}, cost estimate {r['cost_estimate']:.0f}")
    if args.plot:
        print(f"wrote {res.plot_pareto(args.plot, score=score)}")
    if args.configs:
        print(f"wrote {len(res.write_configs(args.configs, front))} configs in {args.configs}")
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"backend": args.backend, "io_type": args.io_type, "project_name": args.project_name, "part": args.part,
            "clock_period": args.clock_period}


def _convert_project(args: argparse.Namespace) -> int:
    """``nnfpga convert -c project.yml``: the YAML of ``hls4ml convert -c``; command-line options override it."""
    from nnfpga.converters import convert_from_config, parse_yaml_config

    if not args.config:
        raise ConfigError("convert needs a model file, or -c with an hls4ml project YAML that names the model")
    if args.calibration:
        raise ConfigError("--calibration derives a config for a model file; the project YAML has its HLSConfig")
    cfg = parse_yaml_config(args.config)
    keys = {"backend": "Backend", "io_type": "IOType", "project_name": "ProjectName", "part": "Part",
            "clock_period": "ClockPeriod"}
    cfg.update({keys[k]: v for k, v in _overrides(args).items() if v is not None})
    if args.output_dir:
        cfg["OutputDir"] = args.output_dir
    from nnfpga.config.hls4ml_yaml import MODEL_KEYS

    if not any(k in cfg for k in MODEL_KEYS):
        raise ConfigError(f"{args.config!r} names no model ({', '.join(MODEL_KEYS)}): give the model file as the "
                          "first argument to use it as a Model/LayerType/LayerName config")
    base = Path(args.config).parent
    for key in ("KerasJson", "KerasH5", "KerasModel", "OnnxModel"):  # relative to the YAML when not found here
        if isinstance(cfg.get(key), str) and not Path(cfg[key]).exists() and (base / cfg[key]).exists():
            cfg[key] = str(base / cfg[key])
    hw = convert_from_config(cfg)
    out = hw.write(force=args.force)
    print(hw.summary())
    print(f"wrote project {out}")
    return 0


def _config(args: argparse.Namespace) -> int:
    import nnfpga

    calib = load_array(args.calibration) if args.calibration else None
    cfg = nnfpga.config_from_keras_model(args.model, granularity=args.granularity, default_precision=args.precision,
                                         default_reuse_factor=args.reuse_factor, calibration_data=calib)
    text = yaml.safe_dump(cfg, sort_keys=False)
    if args.output:
        _write_new(Path(args.output), text.encode(), args.force)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def _predict(args: argparse.Namespace) -> int:
    import nnfpga

    hw = nnfpga.load_project(args.project)
    x = load_array(args.input)
    y = hw.predict(x, engine=args.engine)
    if args.output:
        import io

        buf = io.BytesIO()
        np.save(buf, y)
        _write_new(Path(args.output), buf.getvalue(), args.force)
        print(f"wrote {args.output}: {y.shape[0]} outputs")
    else:
        np.savetxt(sys.stdout, y, fmt="%.10g", delimiter=",")
    print(hw.overflow_table(), file=sys.stderr)
    if args.trace:
        print(hw.trace(x).table(), file=sys.stderr)
    return 0


def _profile(args: argparse.Namespace) -> int:
    import nnfpga
    from nnfpga.profiling import write_profile

    paths = write_profile(nnfpga.load_project(args.project), load_array(args.input), args.output_dir,
                          force=args.force)
    for p in paths:
        print(p)
    return 0


def _build(args: argparse.Namespace) -> int:
    import nnfpga

    report = nnfpga.load_project(args.project).build(cosim=args.cosim, export=args.export)
    print(report.to_json() if args.json else report.table())
    return 0


def _synth(args: argparse.Namespace) -> int:
    import nnfpga
    from nnfpga.backends.rtl.synth import report_path

    hw = nnfpga.load_project(args.project)
    report = hw.synthesize(args.target, timeout_s=args.timeout, save=True)
    print(report.to_json() if args.json else report.table())
    print(f"saved {report_path(args.project, args.target)}", file=sys.stderr)
    return 0


def _estimate(args: argparse.Namespace) -> int:
    import json

    import nnfpga

    est = nnfpga.load_project(args.project).estimate(args.target)
    print(json.dumps(est.to_dict(), indent=1) if args.json else est.table())
    return 0


def _report(args: argparse.Namespace) -> int:
    from nnfpga.backends.rtl.synth import load_report

    if args.html is not None:
        return _report_html(args)
    if args.input or args.force:
        raise ConfigError("-i/--input and --force go with --html OUT.html (the HTML report)")
    report = load_report(args.project, args.target)
    print(report.to_json() if args.json else report.table())
    return 0


def _report_html(args: argparse.Namespace) -> int:
    import nnfpga
    from nnfpga.backends.rtl.synth import load_report

    if args.json:
        raise ConfigError("--json prints the synthesis report; leave it out with --html")
    hw = nnfpga.load_project(args.project)
    x = load_array(args.input) if args.input else None
    hardware = [load_report(args.project, args.target)] if args.target else None
    out = hw.report_html(args.html, x, hardware=hardware, force=args.force)
    print(f"wrote {out}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    import nnfpga

    hw = nnfpga.load_project(args.project)
    print(hw.summary())
    print("settings: " + ", ".join(f"{k}={v}" for k, v in hw.settings.items()))
    return 0


def _passes(args: argparse.Namespace) -> int:
    from nnfpga.passes import dump_pipeline

    print(dump_pipeline())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from nnfpga.demo import run_demo

    return 0 if run_demo(args.output_dir).bit_exact else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
