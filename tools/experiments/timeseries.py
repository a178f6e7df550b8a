"""Time-series classification on UCR/UEA datasets with the journal's protocol.

The runs of the authors' journal follow-up (Neurocomputing 2026, public code
`andreaceni/AdaDiag`) on small real datasets, on the same runner as the
MNIST experiments: resumable, a progress bar, one JSON record per run, a
summary, and per run a learning-curve PNG. `examples/timeseries.py` is a
thin front over `main`.

The protocol (the journal's final runs, from its code): 250 epochs, Adam,
learning rate x0.1 at epochs 80 and 160, three seeds, the whole training
split, evaluation on the test split after every epoch, no normalisation
beyond what the archive files carry. A record holds both the last-epoch
test accuracy (`final_test_accuracy`, the headline number) and the best
one over the epochs (`test_accuracy`); the best epoch is picked on the test
split, which makes it optimistic, and it is labelled so wherever it appears.

Per dataset and method family the assembly sizes, C, dt, learning rate and
batch follow the journal's table (`JOURNAL_SETTINGS`); a dataset without a
row gets `DEFAULT_SETTINGS`. The LSTM / GRU baselines have a state of 128
and take the learning rate and batch of the dataset's AdaDiag row.
"""

import argparse
import dataclasses
import os

import numpy as np

from keras_rnnofrnns.checks import check_bool, check_choice, check_distinct, check_int
from keras_rnnofrnns.cells import find_assembly_cell
from keras_rnnofrnns.coupling.topology import max_coupling_blocks
from tools.experiments.tasks import TaskData
from keras_rnnofrnns.data.ucr import load_ucr
from tools.experiments.figures import plot_assembly, plot_learning_curve
from tools.experiments.records import (
    device_text,
    format_summary,
    load_records,
    portable_path,
    write_summary,
)
from tools.experiments.runner import (
    BaseProtocol,
    add_time_budget_argument,
    command_line_exit,
    deadline_callbacks,
    train_run,
)
from tools.experiments.settings import (
    add_device_arguments,
    add_shared_arguments,
    lr_drops_words,
    settings_from_args,
    words,
)
from tools.experiments.storage import atomic_write_text
from keras_rnnofrnns.models import BASELINES, METHODS, baseline_classifier

# The fixed step of every SCN row of the journal's table.
JOURNAL_SCN_DT = 0.1

# The journal's settings per dataset: for its (gated) AdaDiag and for its SCN.
JOURNAL_SETTINGS = {
    "JapaneseVowels_eq": {
        "adadiag": dict(num_modules=16, module_size=32, coupling_blocks=20,
                        learning_rate=1e-2, batch_size=16),
        "scn": dict(num_modules=16, module_size=32, coupling_blocks=20, dt=JOURNAL_SCN_DT,
                    learning_rate=1e-2, batch_size=16),
    },
    "Adiac": {
        "adadiag": dict(num_modules=16, module_size=32, coupling_blocks=20,
                        learning_rate=1e-2, batch_size=16),
        "scn": dict(num_modules=16, module_size=32, coupling_blocks=20, dt=JOURNAL_SCN_DT,
                    learning_rate=1e-2, batch_size=16),
    },
    "FordA": {
        "adadiag": dict(num_modules=64, module_size=8, coupling_blocks=20,
                        learning_rate=1e-3, batch_size=128),
        "scn": dict(num_modules=16, module_size=32, coupling_blocks=120, dt=JOURNAL_SCN_DT,
                    learning_rate=1e-3, batch_size=128),
    },
}

# Ours, for datasets the journal has no row for.
DEFAULT_SETTINGS = {
    "adadiag": dict(num_modules=16, module_size=32, coupling_blocks=20,
                    learning_rate=1e-3, batch_size=32),
    "scn": dict(num_modules=16, module_size=32, coupling_blocks=20, dt=JOURNAL_SCN_DT,
                learning_rate=1e-3, batch_size=32),
}

# The journal's test accuracies (%), mean and std over 3 runs, as
# (last epoch mean, std, best epoch mean, std); None where it gives no std.
# Its "SCN" was trainable, tanh-bounded, 1 %-dense blocks, not fixed
# Theorem-1 blocks like ours.
JOURNAL_RESULTS = {
    "JapaneseVowels_eq": {
        "AdaDiag (gated)": (97.8, 0.3, 98.2, 0.2),
        "SCN": (97.9, 0.0, 98.0, 0.1),
        "LSTM": (96.3, 0.4, 96.6, 0.4),
        "RNN": (96.4, 0.6, 97.1, 0.3),
    },
    "Adiac": {
        "AdaDiag (gated)": (73.4, 4.6, 80.7, 1.5),
        "SCN": (32.2, 27.2, 43.7, 20.5),
        "LSTM": (38.5, 1.4, 39.1, 1.3),
        "RNN": (7.2, 3.5, 10.2, 4.1),
    },
    "FordA": {
        "AdaDiag (gated)": (92.8, 0.8, 93.0, 0.8),
        "SCN": (73.9, 1.8, 74.3, 1.9),
        "LSTM": (57.0, 6.3, 59.1, 8.1),
        "RNN": (51.0, None, 51.2, None),
    },
}

# The protocol's fixed settings. The ungated AdaDiags and SCN use the fixed
# step of the journal's SCN rows (dt 0.1); the gated methods learn theirs.
TIMESERIES_DEFAULTS = {
    "seeds": (0, 1, 2),
    "epochs": 250,
    "optimizer": "adam",
    "lr_drops": (80, 160),
    "patience": 0,
    "dt": JOURNAL_SCN_DT,
}

BASELINE_STATE_SIZE = 128

TIMESERIES_NOTE = (
    "Journal protocol: evaluation on the test split after every epoch, no early "
    "stopping. final_test_accuracy is the last epoch's; test_accuracy is the best "
    "epoch's, picked on the test split, hence optimistic."
)


def method_family(method):
    """`"scn"`, `"adadiag"` or `"baseline"`: which row of the settings a method takes."""
    check_choice("method", method, tuple(METHODS) + tuple(BASELINES))
    if method in BASELINES:
        return "baseline"
    return "scn" if METHODS[method].get("module_weights") == "sparse" else "adadiag"


def baseline_name(method, state_size):
    """A baseline as Keras names its layer, with its state size.

    Example:
    >>> baseline_name("lstm", 128)
    'LSTM(128)'
    """
    check_choice("method", method, tuple(BASELINES))
    return f"{BASELINES[method].__name__}({state_size})"


def dataset_settings(dataset, method):
    """The protocol settings of `method` on `dataset`, and whether they are the journal's.

    Example:
    >>> settings, journal = dataset_settings("FordA", "adadiag-gated")
    >>> settings["num_modules"], settings["module_size"], settings["batch_size"], journal
    (64, 8, 128, True)
    """
    family = method_family(method)
    rows = JOURNAL_SETTINGS.get(dataset, DEFAULT_SETTINGS)
    settings = dict(rows["adadiag" if family == "baseline" else family])
    return settings, dataset in JOURNAL_SETTINGS


# What time-series records have always held of the MNIST protocol's
# settings: a series is read whole, in order, without a preset. New runs keep
# them, so that runs made before and after resume, compare and average alike.
SERIES_CONFIG = {"row_wise": False, "permutation_seed": 0, "quick": False}


@dataclasses.dataclass(frozen=True, kw_only=True)
class TimeSeriesProtocol(BaseProtocol):
    """The protocol of one method on one UCR/UEA dataset.

    Build it with `TimeSeriesProtocol.create`, which fills in the dataset's
    defaults (`dataset_settings`, `TIMESERIES_DEFAULTS`). Besides the
    settings of `BaseProtocol` it has:

    Attributes:
        dataset: the UCR/UEA dataset's name (see `load_ucr`); the runs'
            records keep it as their `task`.
        state_size: the state of the LSTM / GRU baselines.
        pad: pad unequal-length series with zeros at the end (see `load_ucr`).
    """

    dataset: str
    state_size: int = BASELINE_STATE_SIZE
    pad: bool = False

    @classmethod
    def create(cls, dataset, method, **settings):
        """A checked protocol for `method` on `dataset`; settings left out
        (or None) take the dataset's defaults (`dataset_settings`,
        `TIMESERIES_DEFAULTS`).

        Example:
        >>> protocol = TimeSeriesProtocol.create("Adiac", "scn-3", epochs=2)
        >>> protocol.dt, protocol.batch_size, protocol.epochs, protocol.patience
        (0.1, 16, 2, 0)
        """
        base, _ = dataset_settings(dataset, method)
        coupling_blocks = base.pop("coupling_blocks")
        given = {k: v for k, v in settings.items() if v is not None}
        values = {**TIMESERIES_DEFAULTS, **base, **given}
        values["methods"] = (method,)
        values.setdefault("coupling_blocks", (coupling_blocks,))
        values.setdefault("output", os.path.join("runs", "timeseries"))
        if "num_modules" in given and "coupling_blocks" not in given:
            # C from a row for other sizes would not fit: all pairs at most.
            p = values["num_modules"]
            values["coupling_blocks"] = (min(coupling_blocks, max_coupling_blocks(p)),)
        return cls(dataset=dataset, **values)

    def check(self):
        dataset = self.dataset
        if not isinstance(dataset, str) or not dataset or os.sep in dataset:
            raise ValueError(
                f"Invalid `dataset`: received dataset={dataset!r}; expected the name of "
                "a UCR/UEA dataset, e.g. 'Adiac'."
            )
        super().check()
        check_int("state_size", self.state_size, 1)
        check_bool("pad", self.pad)
        if self.methods[0] in BASELINES and self.readout not in (None, "dense"):
            raise ValueError(
                f"Invalid `readout`: received readout={self.readout!r} for the baseline "
                f"{self.methods[0]!r}; expected None or 'dense': the LSTM / GRU baselines "
                "read out through a Dense layer with bias."
            )

    @property
    def record_task(self):
        return self.dataset

    @property
    def validation_note(self):
        return TIMESERIES_NOTE

    def method_names(self):
        return tuple(METHODS) + tuple(BASELINES)

    def load_data(self):
        dataset = load_ucr(self.dataset, self.data_dir, pad=self.pad)
        (x_train, y_train), (x_test, y_test) = dataset
        if self.limit_train is not None:
            x_train, y_train = x_train[: self.limit_train], y_train[: self.limit_train]
        if self.limit_test is not None:
            x_test, y_test = x_test[: self.limit_test], y_test[: self.limit_test]
        # The label mapping and the files read go into every record; file
        # names only, records travel between machines.
        source = dataset.metadata()
        if not isinstance(source["source"], str):
            source["source"] = [os.path.basename(path) for path in source["source"]]
        return TaskData(self.dataset, x_train, y_train, x_test, y_test, source)

    def num_classes(self, data):
        # The archive's label mapping: the first sequences that `limit_train`
        # and `limit_test` keep need not show every class.
        return len(data.source["classes"])

    def build_model(self, method, coupling_blocks, seed, data):
        if method not in BASELINES:
            return super().build_model(method, coupling_blocks, seed, data)
        return baseline_classifier(
            method, units=self.state_size, **self.classifier_arguments(seed, data)
        )

    def model_description(self, method):
        # A baseline is no assembly: its state size is what tells it apart.
        if method in BASELINES:
            return f"{baseline_name(method, self.state_size)} baseline"
        return super().model_description(method)

    def run_title(self, method, coupling_blocks, seed):
        if method in BASELINES:
            return f"{self.dataset} {baseline_name(method, self.state_size)}, seed {seed}"
        return super().run_title(method, coupling_blocks, seed)

    def draw_figures(self, model, stem, title, rows):
        paths = [plot_learning_curve(rows, stem + "_curve.png", title=title)]
        if find_assembly_cell(model, missing_ok=True) is not None:
            paths.append(plot_assembly(model, stem + ".png", title=f"{title} (best epoch)"))
        return paths

    def run_config(self, method):
        """The settings stored in the `config` of each record of `method`: the
        shared ones, `state_size` (None for an assembly, which is not told
        apart by it), `pad` and `SERIES_CONFIG`."""
        config = super().run_config(method)
        config.update(
            state_size=self.state_size if method in BASELINES else None,
            pad=self.pad,
            **SERIES_CONFIG,
        )
        return config

    def method_readout(self, method):
        # The baselines read out through a Dense layer with bias, always.
        if method in BASELINES:
            return "dense"
        return super().method_readout(method)


def run_timeseries(dataset, methods, callbacks=(), **settings):
    """Trains (or resumes) every run of `methods` on `dataset`; returns the records.

    Args:
        dataset: a UCR/UEA dataset name (see `load_ucr`).
        methods: keys of `METHODS` or `BASELINES`.
        callbacks: extra Keras callbacks for every run (see `train_run`).
        **settings: `TimeSeriesProtocol.create` settings (seeds, epochs,
            data_dir, output, ...); per method they override the dataset's.

    Returns:
        The run records, in run order; `summary.json` is rewritten in the
        output folder.
    """
    check_distinct("methods", tuple(methods))
    protocols = [TimeSeriesProtocol.create(dataset, m, **settings) for m in methods]
    records = []
    data = None
    for protocol in protocols:
        os.makedirs(protocol.output, exist_ok=True)
        data = data or protocol.load_data()
        for blocks in protocol.coupling_blocks:
            for seed in protocol.seeds:
                records.append(
                    train_run(protocol, data, protocol.methods[0], blocks, seed, callbacks)
                )
    output = protocols[0].output
    groups = write_summary(output, load_records(output))
    print(f"\nSummary of {output} (test accuracy, mean ± std over seeds):")
    print(format_summary(groups))
    return records


# The settings the command line sets (what `TimeSeriesProtocol.create` may
# be given besides the dataset, the method and the output).
_FLAG_SETTINGS = tuple(
    field.name
    for field in dataclasses.fields(TimeSeriesProtocol)
    if field.name not in ("dataset", "output")
)


def build_parser():
    """The command line of `examples/timeseries.py`."""
    parser = argparse.ArgumentParser(
        prog="timeseries.py",
        description=(
            "Train assemblies of RNN modules (and LSTM / GRU baselines) on a UCR/UEA "
            "dataset with the protocol of the authors' journal follow-up: "
            + _protocol_text()
            + " Rerun the same command to resume. "
            "'timeseries.py report' writes the results table."
        ),
    )
    add = parser.add_argument
    add(
        "--dataset",
        required=True,
        help="UCR/UEA dataset name, e.g. Adiac, FordA, JapaneseVowels_eq",
    )
    methods = tuple(METHODS) + tuple(BASELINES)
    add(
        "--method",
        dest="methods",
        nargs="+",
        required=True,
        choices=methods,
        metavar="M",
        help=f"methods, of {' '.join(methods)}",
    )
    row = "the dataset's row"
    protocol = TIMESERIES_DEFAULTS
    add_shared_arguments(
        parser,
        dict(
            num_modules=row,
            module_size=row,
            coupling_blocks=row,
            seeds=words(protocol["seeds"]),
            dt=words(protocol["dt"]),
            epochs=protocol["epochs"],
            batch_size=row,
            learning_rate=row,
            optimizer=protocol["optimizer"],
            lr_drops=lr_drops_words(protocol["lr_drops"]),
            patience=protocol["patience"],
        ),
    )
    add("--data-dir", help="folder with <name>_TRAIN/_TEST files (default: $UCR_DIR)")
    add_device_arguments(parser)
    add(
        "--state-size",
        type=int,
        help=f"the state of the LSTM / GRU baselines (default: {BASELINE_STATE_SIZE})",
    )
    add(
        "--pad",
        action="store_true",
        default=None,
        help="pad unequal-length series with zeros at the end (default: refuse them); "
        "the models then read the padding too",
    )
    add("--output", help="results folder (default: runs/timeseries)")
    add_time_budget_argument(parser)
    return parser


def main(argv=None):
    """Runs the command line of `examples/timeseries.py`; returns the records."""
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["report"]:
        return report_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = settings_from_args(args, _FLAG_SETTINGS)
    methods = settings.pop("methods")
    settings["output"] = args.output
    try:
        check_distinct("methods", methods)
        for method in methods:
            TimeSeriesProtocol.create(args.dataset, method, **settings)
        deadline_callbacks(args.time_budget)
    except ValueError as exc:
        parser.error(str(exc))
    with command_line_exit():
        return run_timeseries(
            args.dataset, methods, deadline_callbacks(args.time_budget), **settings
        )


# -- the results document ------------------------------------------------------

JOURNAL_COLUMN = {
    "adadiag-gated": "AdaDiag (gated)",
    "scn-3": "SCN",
    "lstm": "LSTM",
}


def _mean_std_text(values):
    values = [100 * v for v in values if v is not None]
    if not values:
        return "–"
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}"


def _journal_text(entry):
    last, last_std, best, best_std = entry

    def one(mean, std):
        return f"{mean:.1f}" + ("" if std is None else f" ± {std:.1f}")

    return f"{one(last, last_std)} / {one(best, best_std)}"


# The folder the committed document is made from.
DEFAULT_REPORT_RESULTS = os.path.join("results", "timeseries")


def render_report(records, results=DEFAULT_REPORT_RESULTS):
    """docs/timeseries.md from the run records: ours beside the journal's table.

    Args:
        records: the run records (`load_records(results, finished_only=False)`).
        results: the folder they were read from, as the document names it.

    Returns:
        The markdown text.

    Example:
    >>> text = render_report([], results="runs/timeseries")
    >>> "run records in `runs/timeseries/`" in text
    True
    """
    by_dataset = {}
    for record in records:
        by_dataset.setdefault(record["task"], {}).setdefault(record["method"], []).append(
            record
        )
    lines = [
        "# Time-series classification: UCR/UEA datasets",
        "",
        "Generated by `python examples/timeseries.py report` from the run records in "
        f"`{portable_path(results).replace(os.sep, '/')}/`; do not edit by hand. Test "
        "accuracy in %, mean ± std "
        "(population, ddof=0) over the seeds run, **last epoch / best epoch**. The best "
        "epoch is picked on the test split (as in the journal), so it is optimistic; "
        "the last epoch is the honest number.",
        "",
        "Protocol (the journal's final runs): " + _protocol_text(),
        "",
    ]
    planned = sorted({(r.get("config") or {}).get("epochs") for r in records} - {None})
    if planned and planned != [TIMESERIES_DEFAULTS["epochs"]]:
        lines += [
            f"**These runs differ:** they were made for {' / '.join(map(str, planned))} "
            f"epochs, not the protocol's {TIMESERIES_DEFAULTS['epochs']}; the epochs "
            "column gives those each finished run made.",
            "",
        ]
    for dataset in sorted(by_dataset):
        lines += [f"## {dataset}", ""]
        lines += [
            "| method | finished seeds | epochs | last epoch | best epoch (optimistic) | "
            "trainable parameters | s / epoch | read-out | certified | device |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for method in sorted(by_dataset[dataset]):
            runs = sorted(by_dataset[dataset][method], key=lambda r: r["seed"])
            finished = [r for r in runs if r.get("finished")]
            pending = [r for r in runs if not r.get("finished")]
            seconds = [s for r in runs for s in r.get("epoch_seconds", [])[1:]]
            certified = {(r.get("certificate") or {}).get("certified") for r in finished}
            certified.discard(None)
            state = ", ".join(str(r["seed"]) for r in finished) or "none"
            if pending:
                state += "; in progress: " + ", ".join(
                    f"seed {r['seed']} at epoch {r['epochs_run']}/"
                    f"{(r.get('config') or {}).get('epochs', '?')}"
                    for r in pending
                )
            cells = [
                method,
                state,
                ", ".join(map(str, sorted({r["epochs_run"] for r in finished}))) or "–",
                _mean_std_text([r.get("final_test_accuracy") for r in finished]),
                _mean_std_text([r.get("test_accuracy") for r in finished]),
                str(runs[0].get("trainable_parameters", "–")),
                f"{np.median(seconds):.2f}" if seconds else "–",
                "/".join(sorted({r["config"].get("readout", "dense") for r in runs})),
                "/".join("yes" if c else "no" for c in sorted(certified)) or "–",
                "; ".join(sorted({device_text(r) for r in runs})),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        journal = JOURNAL_RESULTS.get(dataset)
        if journal:
            lines += [
                "",
                "The journal's numbers (last epoch / best epoch, mean ± std over 3 runs):",
                "",
                "| " + " | ".join(journal) + " |",
                "|" + " --- |" * len(journal),
                "| " + " | ".join(_journal_text(v) for v in journal.values()) + " |",
            ]
        dates = sorted(
            {r.get("date", "")[:10] for runs in by_dataset[dataset].values() for r in runs}
        )
        versions = sorted({
            f"{r.get('backend')} {r.get('backend_version')}, Keras {r.get('keras_version')}"
            for runs in by_dataset[dataset].values() for r in runs
        })
        lines += ["", f"Software: {'; '.join(versions)}. Dates: {', '.join(d for d in dates if d)}.", ""]
    lines += [
        "Notes:",
        "",
        "- The journal's *SCN* used trainable, tanh-bounded, 1 %-dense blocks; our "
        "`scn-3` is the Sparse Combo Net of the ESANN paper (fixed Theorem-1 blocks, "
        "3 % dense), so the two columns are different models.",
        "- `adadiag-gated` is the journal's model as its code has it; "
        "`adadiag-gated-cayley` is ours (input gate, Cayley coupling step with a "
        "learned per-unit step), the only one whose computed map is certified "
        "contracting.",
        "- read-out: `journal` is the journal code's (no bias, N(0, 1/sqrt(H)) "
        "weights), `dense` a Keras `Dense` layer with bias and Glorot weights "
        "(`keras_rnnofrnns.readout_layer`); the gated methods use `journal` by default.",
        "- " + TIMESERIES_NOTE,
        "- Means are over the finished runs only; a run in progress is listed with "
        "the epochs it has made and resumes with the same command.",
        "- s / epoch is the median wall time of an epoch after the first (which "
        "includes compilation), training and test evaluation together; on a "
        "shared machine it is indicative only.",
        "",
    ]
    return "\n".join(lines)


def _protocol_text():
    d = TIMESERIES_DEFAULTS
    return (
        f"{d['epochs']} epochs, {d['optimizer']}, learning rate x0.1 at epochs "
        f"{' and '.join(map(str, d['lr_drops']))}, seeds {', '.join(map(str, d['seeds']))}, "
        "no early stopping; per dataset the sizes, C, learning rate and batch of the "
        "journal's table (LSTM/GRU: a state of "
        f"{BASELINE_STATE_SIZE} with the AdaDiag row's learning rate and batch); the "
        f"ungated methods use dt = {d['dt']}."
    )


def report_main(argv=None):
    """`timeseries.py report [--results DIR] [--output FILE]`: writes the results document."""
    parser = argparse.ArgumentParser(prog="timeseries.py report")
    parser.add_argument("--results", default=DEFAULT_REPORT_RESULTS,
                        help=f"the folder of the run records (default: {DEFAULT_REPORT_RESULTS})")
    parser.add_argument("--output", default=os.path.join("docs", "timeseries.md"),
                        help="the markdown file to write (default: docs/timeseries.md)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.results):
        parser.error(f"the results folder {args.results!r} does not exist")
    records = load_records(args.results, finished_only=False)
    if not records:
        # A document of nothing would replace one of real runs.
        parser.error(
            f"the results folder {args.results!r} holds no run records; {args.output!r} "
            "was left as it is. Give --results the folder the runs were trained into "
            "(the training default is runs/timeseries)."
        )
    text = render_report(records, args.results)
    atomic_write_text(args.output, text)
    print(f"wrote {args.output} from the {len(records)} records in {args.results}")
    return records
