"""The paper's experiment protocol on sMNIST and psMNIST, as a library and a command line.

One invocation trains every (method, coupling blocks C, seed) combination it
is given on one task, the way the paper's Table 1 was made: an assembly of 16
modules x 32 units, dt = 0.03, at most 200 epochs, early stopping on a plateau
of the validation accuracy, three runs, and — as in the paper — the test
split used as the validation data (so the reported accuracy is the best test
accuracy over the epochs). `examples/smnist.py` and `examples/psmnist.py` are
thin fronts over `main`.

Per run it writes into the output folder, named `<task>_<method>_C<C>_seed<seed>`:

- `.json`: the run record (see `tools.experiments.records`),
  rewritten after every epoch and marked `finished` at the end;
- `.keras`: the model of the best epoch, once the run is finished, without
  the optimizer state (a third of the size);
- `.png`: the recurrent matrix W + L and the coupling blocks of that model;
- `.csv`: the per-epoch logs, in `CSVLogger`'s layout;
- `_backup/`: while the run is unfinished, the training state (weights,
  optimizer, epoch) and the best model so far (`best-epoch<E>.keras`): all
  that is temporary is in there.

Every file is written atomically (`tools.experiments.storage`), so
a kill at any instant leaves whole files. Running the same command again
resumes an interrupted run at its last backed-up epoch, after checking that
its files agree (`tools.experiments.resume`), and skips finished
ones. Every record holds the `certificate` of its model: the last epoch's
weights while the run is unfinished, the best epoch's model once it is
finished. A run whose weights end non-finite finishes with `diverged: true`
and an uncertified certificate that says why. A run whose training is stopped
before its end by one of the extra `callbacks` (e.g. `StopBeforeDeadline`)
stays unfinished and resumes likewise. An unfinished run whose backup is
gone cannot resume where it stopped, so it starts over. Per invocation,
`summary.json` holds the mean and standard deviation over seeds of every
group of runs in the folder.
"""

import argparse
import contextlib
import dataclasses
import functools
import os
import shutil
import signal
import sys
import threading
import time

import keras
import numpy as np

from keras_rnnofrnns.checks import (
    check_bool,
    check_choice,
    check_distinct,
    check_int,
    check_positive_float,
    check_seed,
)
from keras_rnnofrnns.coupling.topology import max_coupling_blocks
from tools.experiments.tasks import TASKS, load_task
from tools.experiments.callbacks import (
    EpochTimer,
    ResumedEarlyStopping,
    StopBeforeDeadline,
    check_seconds,
)
from tools.experiments.figures import plot_assembly
from tools.experiments import storage
from tools.experiments.records import (
    csv_text,
    environment,
    format_summary,
    history_columns,
    load_records,
    read_json,
    run_name,
    write_json,
    write_summary,
)
from tools.experiments.resume import best_epoch, resume_state
from tools.experiments.settings import (
    RECORDED_SETTINGS,
    TABLE_WORDS,
    add_device_arguments,
    add_shared_arguments,
    lr_drops_words,
    settings_from_args,
    table_text,
    words,
)
from keras_rnnofrnns.distribution import (
    check_even_split,
    data_parallel_scope,
    describe_devices,
    initialize_processes,
    is_main_process,
    process_share,
)
from keras_rnnofrnns.models import (
    METHODS,
    OPTIMIZERS,
    PAPER_METHODS,
    READOUTS,
    method_readout,
    sequence_classifier,
)
from keras_rnnofrnns.cells import find_assembly_cell
from keras_rnnofrnns.stability.certificate import certify

VALIDATION_NOTE = (
    "As in the paper, the test split is the validation data: early stopping and "
    "the choice of the best epoch look at test accuracy, and test_accuracy is "
    "the best validation (= test) accuracy over the epochs."
)

JOURNAL_NOTE = (
    "Journal protocol: the test split is evaluated after every epoch, with no early "
    "stopping; final_test_accuracy is the last epoch's, test_accuracy the best "
    "epoch's, picked on the test split, hence optimistic."
)

# The certificate's reason for a model whose training diverged.
DIVERGED = "non-finite weights"


def _check_each(name, values, check):
    # A repeated item would train the same run twice, side by side.
    for value in values:
        check(value)
    check_distinct(name, values)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BaseProtocol:
    """The settings both protocols share, checked, and what a run does with them.

    The defaults are the paper's Table-1 protocol (the optimizer, learning
    rate, batch size, schedule and patience, which the paper does not give,
    are ours). `Protocol` (sMNIST, psMNIST) and
    `tools.experiments.timeseries.TimeSeriesProtocol` (UCR/UEA datasets) add
    what their data needs; build either with its `create`, which fills in
    its defaults. Every value is checked when a protocol is made: a bad one
    raises a ValueError that names the setting, the value and what is
    allowed.

    Attributes:
        methods: the methods to train, each a name of `method_names()`.
        num_modules: modules p of the assembly.
        module_size: units N per module.
        coupling_blocks: the numbers of coupling blocks C to train, each
            from 0 to p(p-1)/2.
        seeds: one run each (initialisation, coupled pairs, sparse modules,
            shuffling).
        dt: the Euler step.
        epochs: the most epochs per run.
        batch_size: the (global) batch.
        learning_rate: the initial learning rate.
        optimizer: one of `keras_rnnofrnns.models.OPTIMIZERS`.
        lr_drops: epochs at which the learning rate is multiplied by 0.1.
        patience: epochs without a better test accuracy before stopping; 0
            turns early stopping off.
        readout: the read-out of the last state, one of
            `keras_rnnofrnns.models.READOUTS`, or None for each method's own.
        limit_train, limit_test: only the first N sequences of a split, or
            None for all.
        data_dir: the folder of the data files, None for the loader's
            default (an environment variable).
        data_parallel: train data-parallel over all local devices.
        verbose: Keras `fit` verbosity, 0, 1 or 2.
        output: the results folder.
    """

    methods: tuple = PAPER_METHODS
    num_modules: int = 16
    module_size: int = 32
    coupling_blocks: tuple = (5, 20)
    seeds: tuple = (0, 1, 2)
    dt: float = 0.03
    epochs: int = 200
    batch_size: int = 128
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    lr_drops: tuple = (80, 150)
    patience: int = 20
    readout: str = None
    limit_train: int = None
    limit_test: int = None
    data_dir: str = None
    # Data parallelism changes results only by float rounding: not recorded.
    data_parallel: bool = False
    verbose: int = 1
    output: str

    def __post_init__(self):
        self.check()

    def check(self):
        """Checks every setting; subclasses add their own.

        Raises:
            ValueError: naming the first bad setting, its value and what is
                allowed.
        """
        methods = self.method_names()
        _check_each("methods", self.methods, lambda m: check_choice("method", m, methods))
        check_int("num_modules", self.num_modules, 1)
        check_int("module_size", self.module_size, 1)
        most = max_coupling_blocks(self.num_modules)
        _check_each(
            "coupling_blocks",
            self.coupling_blocks,
            lambda c: check_int("coupling_blocks", c, 0, most),
        )
        _check_each("seeds", self.seeds, lambda seed: check_seed("seed", seed))
        check_positive_float("dt", self.dt)
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_positive_float("learning_rate", self.learning_rate)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_each("lr_drops", self.lr_drops, lambda drop: check_int("lr_drops", drop, 1))
        check_int("patience", self.patience, 0)
        if self.readout is not None:
            check_choice("readout", self.readout, READOUTS)
        for name in ("limit_train", "limit_test"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        check_bool("data_parallel", self.data_parallel)
        check_choice("verbose", self.verbose, (0, 1, 2))
        output = self.output
        if (
            not isinstance(output, (str, os.PathLike))
            or not os.fspath(output)
            or (os.path.exists(output) and not os.path.isdir(output))
        ):
            raise ValueError(
                f"Invalid `output`: received output={output!r}; expected a writable "
                "folder (an existing folder or a path to create), not a file or ''."
            )
        if not self.methods or not self.coupling_blocks or not self.seeds:
            raise ValueError(
                "Invalid protocol: received no method, C or seed to run "
                f"(methods={self.methods!r}, coupling_blocks={self.coupling_blocks!r}, "
                f"seeds={self.seeds!r}); expected at least one of each."
            )

    @property
    def record_task(self):
        """The task as the runs' records and file names give it."""
        raise NotImplementedError

    @property
    def validation_note(self):
        """What the records say about the test split's use."""
        raise NotImplementedError

    def method_names(self):
        """The methods this protocol can train (the names `methods` may hold)."""
        return tuple(METHODS)

    def load_data(self):
        """The train and test arrays, a `keras_rnnofrnns.data.TaskData`."""
        raise NotImplementedError

    def num_classes(self, data):
        """The number of classes of `data` (a `TaskData`): its largest label + 1."""
        return int(max(data.y_train.max(), data.y_test.max())) + 1

    def classifier_arguments(self, seed, data):
        """What every classifier of a run takes from the data and the protocol."""
        return dict(
            seed=seed,
            sequence_length=data.x_train.shape[1],
            input_dim=data.x_train.shape[2],
            num_classes=self.num_classes(data),
            learning_rate=self.learning_rate,
            optimizer=self.optimizer,
        )

    def build_model(self, method, coupling_blocks, seed, data):
        """The compiled classifier of one run on `data` (see `sequence_classifier`)."""
        return sequence_classifier(
            method,
            num_modules=self.num_modules,
            module_size=self.module_size,
            coupling_blocks=coupling_blocks,
            dt=self.dt,
            readout=self.readout,
            **self.classifier_arguments(seed, data),
        )

    def model_description(self, method):
        """The model of a run of `method`, as its announcement names it.

        Example:
        >>> Protocol.create("psmnist", quick=True).model_description("adadiag-clip")
        '4 x 16 assembly, dt=0.03'
        """
        return f"{self.num_modules} x {self.module_size} assembly, dt={self.dt:g}"

    def run_title(self, method, coupling_blocks, seed):
        """The title of a run's figures.

        Example:
        >>> Protocol.create("psmnist").run_title("adadiag-clip", 20, 0)
        'psmnist adadiag-clip, C = 20, seed 0'
        """
        return f"{self.record_task} {method}, C = {coupling_blocks}, seed {seed}"

    def draw_figures(self, model, stem, title, rows):
        """Draws a finished run's figures next to its record; returns their paths."""
        raise NotImplementedError

    def run_config(self, method):
        """The settings stored in the `config` of each record of `method`.

        Returns:
            A dict (JSON: lists, not tuples) of the `RECORDED_SETTINGS`,
            with the read-out `method` uses; subclasses add their own.
        """
        config = {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in ((name, getattr(self, name)) for name in RECORDED_SETTINGS)
        }
        config["readout"] = self.method_readout(method)
        return config

    def record_extras(self):
        """What each run's record says of its data beside its `config`."""
        return {}

    def method_readout(self, method):
        """The read-out a run of `method` uses (`readout`, or the method's own)."""
        return method_readout(method, self.readout)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Protocol(BaseProtocol):
    """The settings of one MNIST invocation: a task and the grid of runs to make on it.

    Build it with `Protocol.create` (which fills in the defaults of a
    preset) or from the command line with `parse_protocol`. Besides the
    settings of `BaseProtocol` (defaults: the paper's) it has:

    Attributes:
        task: `"smnist"` or `"psmnist"`.
        row_wise: read each image as 28 steps of 28 pixels instead of 784
            steps of one pixel (a speed option, not the paper's task).
        permutation_seed: the seed of psMNIST's fixed pixel permutation
            (`keras_rnnofrnns.data.pixel_permutation`).
        quick: whether the quick defaults (`QUICK_DEFAULTS`) were used.
        journal: whether the journal's defaults (`JOURNAL_DEFAULTS`) were used.
    """

    task: str
    row_wise: bool = False
    permutation_seed: int = 0
    quick: bool = False
    journal: bool = False

    @classmethod
    def create(cls, task, quick=False, journal=False, **settings):
        """A checked `Protocol`; settings left out (or None) take the paper's
        defaults, the quick ones when `quick` is True, or the journal's
        (`JOURNAL_DEFAULTS`) when `journal` is True.

        Example:
        >>> protocol = Protocol.create("psmnist", quick=True, epochs=1)
        >>> protocol.methods, protocol.num_modules, protocol.epochs
        (('adadiag-gated-cayley',), 4, 1)
        >>> journal = Protocol.create("psmnist", journal=True)
        >>> journal.epochs, journal.lr_drops, journal.patience, journal.output
        (250, (80, 160), 0, 'runs/psmnist-journal')
        """
        # An unknown task or a preset that is not True / False is refused
        # by name in `check`, once the defaults it chose are in.
        defaults = QUICK_DEFAULTS if quick else JOURNAL_DEFAULTS if journal else PAPER_DEFAULTS
        values = {k: v for k, v in settings.items() if v is not None}
        values = {**defaults, **values}
        suffix = "-quick" if quick else "-journal" if journal else ""
        values.setdefault("output", os.path.join("runs", f"{task}{suffix}"))
        return cls(task=task, quick=quick, journal=journal, **values)

    def check(self):
        check_choice("task", self.task, tuple(TASKS))
        check_bool("quick", self.quick)
        check_bool("journal", self.journal)
        if self.quick and self.journal:
            raise ValueError(
                "Invalid `journal`: received journal=True with quick=True; expected at "
                "most one preset."
            )
        super().check()
        check_bool("row_wise", self.row_wise)
        check_int("permutation_seed", self.permutation_seed, 0)

    @property
    def record_task(self):
        return self.task

    @property
    def validation_note(self):
        return JOURNAL_NOTE if self.journal else VALIDATION_NOTE

    def load_data(self):
        """The task's train and test arrays, a `keras_rnnofrnns.data.TaskData`;
        its `source`, a folder, named by its last part only."""
        data = load_task(
            self.task,
            self.data_dir,
            permutation_seed=self.permutation_seed,
            limit_train=self.limit_train,
            limit_test=self.limit_test,
            row_wise=self.row_wise,
        )
        if isinstance(data.source, str) and os.path.isdir(data.source):
            # Records travel between machines: no machine path in them.
            data = dataclasses.replace(
                data, source=os.path.basename(os.path.normpath(data.source))
            )
        return data

    def draw_figures(self, model, stem, title, rows):
        return [plot_assembly(model, stem + ".png", title=f"{title} (best epoch)")]

    def run_config(self, method):
        """The settings stored in the `config` of each record of `method`: the
        shared ones, `row_wise`, `permutation_seed` and `quick`."""
        config = super().run_config(method)
        config.update(
            row_wise=self.row_wise, permutation_seed=self.permutation_seed, quick=bool(self.quick)
        )
        return config

    def record_extras(self):
        if not TASKS[self.task].permuted:
            return {}
        return {
            "permutation_seed": self.permutation_seed,
            "permutation": f"keras_rnnofrnns.data.pixel_permutation({self.permutation_seed})",
        }


# The settings of the MNIST protocol (what `Protocol.create` may be given
# besides the task, the presets and the output) at the paper's values.
PAPER_DEFAULTS = {
    field.name: field.default
    for field in dataclasses.fields(Protocol)
    if field.name not in ("task", "quick", "journal", "output")
}

# One small run that clearly learns within two minutes on a laptop CPU. The
# values were chosen among 17 settings by the psMNIST accuracy on 1000
# held-out training images (50000-50999), never on the test split; the
# measured test accuracy and time are in docs/experiments.md.
QUICK_DEFAULTS = {
    **PAPER_DEFAULTS,
    "methods": ("adadiag-gated-cayley",),
    "num_modules": 4,
    "module_size": 16,
    "coupling_blocks": (5,),
    "seeds": (0,),
    "epochs": 4,
    "batch_size": 64,
    "learning_rate": 3e-2,
    "lr_drops": (3,),
    "limit_train": 8000,
    "limit_test": 1000,
}

# The MNIST protocol of the authors' journal follow-up (its final psMNIST and
# sMNIST runs, from the settings its logs print): the gated models, 16 x 32,
# C = 20, batch 128, Adam at 1e-3, x0.1 at epochs 80 and 160, 250 epochs,
# the test split evaluated after every epoch and no early stopping. Its
# gated step replaces dt, so dt keeps the paper's value, unused.
JOURNAL_DEFAULTS = {
    **PAPER_DEFAULTS,
    "methods": ("adadiag-gated", "adadiag-gated-cayley"),
    "num_modules": 16,
    "module_size": 32,
    "coupling_blocks": (20,),
    "seeds": (0, 1, 2),
    "epochs": 250,
    "batch_size": 128,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "lr_drops": (80, 160),
    "patience": 0,
}


def step_decay(epoch, learning_rate=None, *, initial, drops):
    """The learning rate at `epoch`: `initial` times 0.1 per drop epoch reached.

    Example:
    >>> [step_decay(e, initial=1.0, drops=(2, 4)) for e in range(5)]
    [1.0, 1.0, 0.1, 0.1, 0.010000000000000002]
    """
    return float(initial * 0.1 ** sum(epoch >= drop for drop in drops))


class _Run:
    """One (method, C, seed) run of a protocol: its files, callbacks and record."""

    def __init__(self, protocol, method, coupling_blocks, seed):
        self.protocol = protocol
        self.method = method
        self.coupling_blocks = coupling_blocks
        self.seed = seed
        self.name = run_name(protocol.record_task, method, coupling_blocks, seed)
        stem = os.path.join(protocol.output, self.name)
        self.record_path = stem + ".json"
        self.model_path = stem + ".keras"
        self.figure_path = stem + ".png"
        self.csv_path = stem + ".csv"
        # The best model so far stays with the rest of the unfinished state,
        # so that only a finished run leaves files outside its backup.
        self.backup_dir = stem + "_backup"

    def record(self, rows, stopped_early, finished, source, **extra):
        history = history_columns(rows)
        best = best_epoch(rows)
        last = rows[-1].get("val_accuracy") if rows else None
        protocol = self.protocol
        record = {
            "task": protocol.record_task,
            "method": self.method,
            "coupling_blocks": self.coupling_blocks,
            "seed": self.seed,
            "num_modules": protocol.num_modules,
            "module_size": protocol.module_size,
            "dt": protocol.dt,
            "config": protocol.run_config(self.method),
            "epochs_run": len(rows),
            "best_epoch": best,
            "test_accuracy": (
                None if best is None else next(r for r in rows if r["epoch"] == best)["val_accuracy"]
            ),
            "final_test_accuracy": last,
            "history": {k: v for k, v in history.items() if k != "epoch_seconds"},
            "epoch_seconds": history.get("epoch_seconds", []),
            "stopped_early": bool(stopped_early),
            "finished": bool(finished),
            **environment(),
            "validation_split_note": protocol.validation_note,
            "data_source": source,
            "files": {
                "model": os.path.basename(self.model_path),
                "figure": os.path.basename(self.figure_path),
                "csv_log": os.path.basename(self.csv_path),
            },
        }
        record.update(protocol.record_extras())
        record.update(extra)
        write_json(self.record_path, record)
        return record

    def previous_record(self):
        """The run's record and the state to resume it from, both None to start over.

        Raises:
            ValueError: if the record holds other settings, if a finished
                run's model is missing or damaged, or if the unfinished
                state cannot be restored (see `resume_state`).
        """
        storage.remove_temporaries(self.protocol.output, self.name)
        record = read_json(self.record_path)
        config = self.protocol.run_config(self.method)
        if record is not None and record.get("config") != config:
            raise ValueError(
                f"Invalid `output`: {self.record_path!r} holds a run with other settings "
                f"({record.get('config')}) than this one ({config}); "
                "expected the same command to resume it. Use another --output folder."
            )
        if record is not None and record.get("finished"):
            problem = storage.model_problem(self.model_path)
            if problem is not None:
                raise ValueError(
                    f"Invalid run {self.name!r}: its record {self.record_path!r} says "
                    f"finished, but the model {self.model_path!r} is missing or damaged "
                    f"({problem}). Restore the model from a copy of the run, or delete "
                    "the record to train the run again."
                )
            if os.path.isdir(self.backup_dir):
                # Left by a kill between the finished record and the cleanup:
                # the record and the model it names are whole, so the backup
                # holds nothing more.
                shutil.rmtree(self.backup_dir)
                print(f"{self.name}: removed the backup {self.backup_dir!r} a kill left behind")
            return record, None
        state = None
        if record is not None:
            state = resume_state(self.backup_dir, self.csv_path, record)
            if state is None:
                # The weights and optimizer state are lost (or the first
                # epoch was recorded but never backed up): the logged epochs
                # cannot be continued, so the run starts over.
                print(
                    f"{self.name}: unfinished, but its backup in {self.backup_dir!r} is "
                    f"missing; starting over (its {record.get('epochs_run')} logged "
                    "epochs are dropped)"
                )
                record = None
        if record is None and storage.backup_files(self.backup_dir):
            # The record is written before each backup, so trained weights
            # without it mean the record was lost: never discard the weights.
            raise ValueError(
                f"Invalid run {self.name!r}: its backup {self.backup_dir!r} holds trained "
                f"weights, but its record {self.record_path!r} is missing. Restore the "
                "record from a copy of the run, or delete the backup folder (and the "
                ".csv file) to train the run again from epoch 0."
            )
        if record is None and is_main_process():
            # Nothing of this run was recorded: leftovers of another attempt
            # (e.g. a run killed before its first epoch ended) start over.
            for path in (self.record_path, self.csv_path, self.model_path):
                if os.path.exists(path):
                    os.remove(path)
            shutil.rmtree(self.backup_dir, ignore_errors=True)
        return record, state

    def callbacks(self, previous_rows):
        protocol = self.protocol
        callbacks = [
            EpochTimer(),
            keras.callbacks.LearningRateScheduler(
                functools.partial(
                    step_decay, initial=protocol.learning_rate, drops=protocol.lr_drops
                )
            ),
        ]
        if protocol.patience:
            callbacks.append(self.early_stopping(previous_rows))
        return callbacks

    def early_stopping(self, previous_rows):
        return ResumedEarlyStopping(
            previous_rows,
            monitor="val_accuracy",
            mode="max",
            patience=self.protocol.patience,
        )

    def over(self, model, rows):
        """Whether the logged epochs end the run: all epochs made, or a plateau."""
        return len(rows) >= self.protocol.epochs or self.plateau_reached(model, rows)

    def plateau_reached(self, model, previous_rows):
        """Whether the logged epochs already meet the early-stopping rule."""
        if not self.protocol.patience or not previous_rows:
            return False
        stopper = self.early_stopping(previous_rows)
        # A flag left by whatever ended the last fit must not count as a plateau.
        model.stop_training = False
        stopper.set_model(model)
        stopper.on_train_begin()
        stopper.on_epoch_begin(previous_rows[-1]["epoch"] + 1)
        reached = bool(model.stop_training)
        model.stop_training = False
        return reached


class _EpochCommit(keras.callbacks.Callback):
    """Saves an epoch's state, each file atomically, in an order a restore can undo.

    The best model (on a new best), the CSV log and the record come before
    the backup of the weights, so a backed-up epoch is always logged and
    recorded; what was written for an epoch that a kill kept out of the
    backup is dropped on resume (`resume_state`) and the epoch trained again.
    A best model is deleted only once neither backup state (the latest and
    the previous one, its fallback) has it as its best.
    """

    def __init__(self, run, rows, best, write_record):
        super().__init__()
        self.run = run
        self.rows = list(rows)
        self.best = best
        self.write_record = write_record

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **{key: float(value) for key, value in (logs or {}).items()}}
        self.rows = [r for r in self.rows if r["epoch"] < epoch] + [row]
        if best_epoch(self.rows) == epoch:
            storage.save_model(self.model, storage.best_model_path(self.run.backup_dir, epoch))
            self.best = epoch
        storage.atomic_write_text(self.run.csv_path, csv_text(self.rows))
        self.write_record(self.rows)
        previous_best = best_epoch(self.rows[:-1])
        storage.save_backup(self.model, self.run.backup_dir, epoch + 1)
        storage.keep_best_models(self.run.backup_dir, {self.best, previous_best})


def _restore(model, weights):
    """Loads a backup (weights and optimizer state) into `model`."""
    if model.optimizer is not None and not model.optimizer.built:
        # The optimizer's variables must exist for its state to load.
        model.optimizer.build(model.trainable_variables)
    model.load_weights(weights)


def parameter_counts(model):
    """The record's parameter counts of `model`: `trainable_parameters`, what
    training changes, and `parameters`, every weight, including constants
    such as the coupling's one-hot pair indices.

    Example:
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.layers[0].kernel.trainable = False
    >>> parameter_counts(model)
    {'parameters': 8, 'trainable_parameters': 2}
    """
    return {
        "parameters": int(model.count_params()),
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
    }


def weights_finite(model):
    """Whether every weight of `model` is finite (no NaN or infinity)."""
    return all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)


def certificate_entry(model):
    """The record's `certificate` of `model`; never raises.

    None for a model without an assembly (a baseline). A model with
    non-finite weights (a diverged run) is not certified, and neither is one
    whose certification fails, with the reason either way: a run must go on
    to its end and let the grid go on.
    """
    if find_assembly_cell(model, missing_ok=True) is None:
        return None
    if not weights_finite(model):
        return {"certified": False, "reason": DIVERGED}
    try:
        certificate = certify(model)
        return {
            "certified": bool(certificate.certified),
            "reason": certificate.reason,
            "ode_contracting": bool(certificate.ode_contracting),
            "contraction_rate": float(certificate.contraction_rate),
            "discrete_contracting": bool(certificate.discrete_contracting),
            "discrete_bound": float(certificate.discrete_bound),
            "euler_contracting": bool(certificate.euler_contracting),
            "euler_bound": float(certificate.euler_bound),
            "module_bound_max": float(np.max(certificate.module_bound)),
        }
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised.
        return {"certified": False, "reason": f"certification failed: {type(exc).__name__}: {exc}"}


def train_run(protocol, data, method, coupling_blocks, seed, callbacks=()):
    """Trains (or resumes, or skips when finished) one run and returns its record.

    Args:
        protocol: a `Protocol`.
        data: `protocol.load_data()`, a `keras_rnnofrnns.data.TaskData`.
        method, coupling_blocks, seed: the run.
        callbacks: extra Keras callbacks, called after the protocol's own
            ones at the end of each epoch, i.e. once the epoch is logged,
            recorded and backed up. One that stops training before the run
            is over (neither all epochs nor a plateau reached) leaves the run
            unfinished, to be resumed by the next call.

    Returns:
        The run record (a dict, also written as `<name>.json`), with
        `finished` false when the run was stopped before its end and
        `diverged` true when the saved model has non-finite weights. None
        on a process other than 0 of a multi-process run, which writes no
        file (`keras_rnnofrnns.distribution.initialize_processes`).

    Raises:
        ValueError: when the run's files cannot be resumed consistently
            (the message names the file and says what to do), or when the
            output folder cannot be written.
        tools.experiments.storage.RunLockedError: when another
            process is training the same run in the same folder.
    """
    run = _Run(protocol, method, coupling_blocks, seed)
    # Held from the first look at the run's files to the last write, so that
    # a second process can neither resume nor delete what this one writes.
    # Only the main process writes the run's files, so only it takes the lock:
    # the other processes of a multi-process run train the same run beside it.
    lock = (
        storage.run_lock(protocol.output, run.name)
        if is_main_process()
        else contextlib.nullcontext()
    )
    with lock:
        return _train_locked(run, data, callbacks)


def _train_locked(run, data, callbacks):
    protocol, method, coupling_blocks, seed = (
        run.protocol, run.method, run.coupling_blocks, run.seed
    )
    x_train, y_train, x_test, y_test = data.x_train, data.y_train, data.x_test, data.y_test
    source = data.source
    previous, state = run.previous_record()
    if previous is not None and previous.get("finished"):
        print(f"{run.name}: finished before, skipped ({run.record_path})")
        return previous

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    # Everything that creates or trains variables runs inside the scope;
    # loading, certifying and plotting the best model need no devices.
    with data_parallel_scope(protocol.data_parallel) as devices:
        print(f"Training on: {describe_devices()}")
        if devices is not None:
            check_even_split(devices, protocol.batch_size, [len(x_train), len(x_test)])
        model = protocol.build_model(method, coupling_blocks, seed, data)
        rows, best = [], None
        if state is not None:
            _restore(model, state.weights)
            rows, best = state.rows, state.best_epoch
        over = run.over(model, rows)
        # Which device trained which epochs: a run may be resumed elsewhere.
        sessions = [] if previous is None else previous.get("sessions", [])
        print(
            f"{run.name}: {protocol.model_description(method)}, "
            f"{len(x_train)} train / {len(x_test)} test sequences of "
            f"{x_train.shape[1]} steps, validation on the test split"
            + (f"; resuming after epoch {len(rows)}" if rows and not over else "")
        )
        if not over:
            env = environment()
            session = {key: env[key] for key in ("device", "backend", "date")}

            def begin_epoch(epoch, logs):
                if "from_epoch" not in session:
                    session["from_epoch"] = epoch
                    # Epochs from here on are (re)trained by this session.
                    sessions[:] = [s for s in sessions if s["from_epoch"] < epoch] + [session]

            commit = _EpochCommit(
                run,
                rows,
                best,
                lambda rows: run.record(
                    rows,
                    model.stop_training,
                    False,
                    source,
                    sessions=sessions,
                    **parameter_counts(model),
                    # The last epoch's weights: an unfinished run already
                    # says whether what it has trained so far is certified.
                    certificate=certificate_entry(model),
                ),
            )
            # Several processes feed fit each its share of every batch.
            batch_size, (x_fit, y_fit) = process_share(protocol.batch_size, x_train, y_train)
            model.fit(
                x_fit,
                y_fit,
                validation_data=tuple(process_share(protocol.batch_size, x_test, y_test)[1]),
                epochs=protocol.epochs,
                initial_epoch=len(rows),
                batch_size=batch_size,
                verbose=protocol.verbose,
                callbacks=[
                    keras.callbacks.LambdaCallback(on_epoch_begin=begin_epoch),
                    *run.callbacks(rows),
                    commit,
                    *callbacks,
                ],
            )
            rows, best = commit.rows, commit.best
            if not run.over(model, rows):
                print(f"{run.name}: stopped after epoch {len(rows)}, unfinished; rerun to resume")
                return read_json(run.record_path)

    if not is_main_process():
        # The finished model, figures and record are process 0's to write.
        return None
    if best is not None:
        model = keras.saving.load_model(
            storage.best_model_path(run.backup_dir, best), compile=False
        )
    # With no finite accuracy (e.g. a diverged run) the last weights stand
    # in for the best. Saved without the optimizer state, a third of the
    # size: the finished model is for evaluation and inspection, and
    # results/ is committed. Atomically, and never over the backup's copy,
    # so a kill here leaves the run to finish again from its backup.
    storage.save_model(model, run.model_path, include_optimizer=False)
    certificate = certificate_entry(model)
    diverged = not weights_finite(model)
    if diverged:
        print(f"{run.name}: diverged (non-finite weights); not certified, no figure")
    else:
        try:
            protocol.draw_figures(
                model,
                os.path.splitext(run.figure_path)[0],
                protocol.run_title(method, coupling_blocks, seed),
                rows,
            )
        except Exception as exc:  # noqa: BLE001 - a figure must not cost the run.
            print(f"{run.name}: no figure ({type(exc).__name__}: {exc})")
    record = run.record(
        rows,
        len(rows) < protocol.epochs,
        True,
        source,
        sessions=sessions,
        **parameter_counts(model),
        diverged=diverged,
        certificate=certificate,
    )
    # Only now, with the record finished, is the backup no longer needed.
    shutil.rmtree(run.backup_dir, ignore_errors=True)
    accuracy = record["test_accuracy"]
    best_text = "n/a" if accuracy is None else f"{100 * accuracy:.2f} %"
    print(
        f"{run.name}: best test accuracy {best_text} at epoch "
        f"{(record['best_epoch'] or 0) + 1} of {record['epochs_run']}"
        + (" (stopped early)" if record["stopped_early"] else "")
        + (
            ""
            if certificate is None
            else f"; certified contracting: {certificate['certified']}"
        )
        + f"; record {run.record_path}"
    )
    return record


def run_protocol(protocol, callbacks=()):
    """Makes every run of `protocol`, writes `summary.json` and returns the records.

    Args:
        protocol: a `Protocol`.
        callbacks: extra Keras callbacks for every run (see `train_run`).

    Returns:
        The run records of this invocation, in run order.
    """
    os.makedirs(protocol.output, exist_ok=True)
    data = protocol.load_data()
    records = [
        train_run(protocol, data, method, blocks, seed, callbacks)
        for method in protocol.methods
        for blocks in protocol.coupling_blocks
        for seed in protocol.seeds
    ]
    if not is_main_process():
        # Process 0 may still be writing the records a summary would read.
        return records
    groups = write_summary(protocol.output, load_records(protocol.output))
    print(f"\nSummary of {protocol.output} (best test accuracy, mean ± std over seeds):")
    print(format_summary(groups))
    return records


def add_protocol_arguments(parser, permuted=True, verbose=1, coupling_blocks=None):
    """Adds the flags of the grid (methods, C, seeds) and of the protocol to `parser`.

    One flag per setting of `Protocol` but the task, the presets and the
    output, and `--runs` beside `--seeds`. `examples/<task>.py` and the
    Table-1 launcher (`reproduce.py`) share them; `protocol_settings` turns
    the parsed flags into `Protocol.create` arguments.

    Args:
        parser: an `argparse.ArgumentParser`.
        permuted: whether to offer `--permutation-seed` (psMNIST).
        verbose: the default `--verbose`.
        coupling_blocks: the values of C that `--coupling-blocks` defaults
            to, as its help shows them (default: the paper's).
    """
    paper = PAPER_DEFAULTS
    defaults = {name: words(value) for name, value in paper.items()}
    defaults.update(
        lr_drops=lr_drops_words(paper["lr_drops"]),
        coupling_blocks=words(coupling_blocks or paper["coupling_blocks"]),
    )
    parser.add_argument(
        "--method",
        dest="methods",
        nargs="+",
        choices=tuple(METHODS),
        metavar="M",
        help=f"methods, of {' '.join(METHODS)} (default: {defaults['methods']})",
    )
    add_shared_arguments(parser, defaults, runs=True)
    parser.add_argument(
        "--row-wise",
        action="store_true",
        default=None,
        help="read each image as 28 steps of 28 pixels instead of 784 steps of one "
        "pixel: a speed option for smoke tests, not the paper's task",
    )
    if permuted:
        parser.add_argument(
            "--permutation-seed",
            type=int,
            help=f"seed of the fixed pixel permutation (default: {paper['permutation_seed']})",
        )
    parser.add_argument(
        "--data-dir", help="folder with the four MNIST idx files (default: $MNIST_DIR)"
    )
    add_device_arguments(parser, verbose)


def protocol_settings(args):
    """The `Protocol.create` settings named by flags of `add_protocol_arguments`.

    Flags left out are None, so `Protocol.create` fills in its defaults.
    """
    settings = settings_from_args(args, PAPER_DEFAULTS)
    if args.runs is not None:
        settings["seeds"] = tuple(range(check_int("runs", args.runs, 1)))
    return settings


def build_parser(task):
    """The command line of `examples/<task>.py`: the paper's grid and protocol."""
    check_choice("task", task, tuple(TASKS))
    paper, quick = PAPER_DEFAULTS, QUICK_DEFAULTS
    parser = argparse.ArgumentParser(
        prog=f"{task}.py",
        description=(
            f"Train assemblies of RNN modules on {task} with the protocol of the "
            "paper's Table 1. Without options: the full grid "
            f"({len(paper['methods'])} methods x C in "
            f"{{{', '.join(map(str, paper['coupling_blocks']))}}} x "
            f"{len(paper['seeds'])} seeds, {table_text(TABLE_WORDS, paper)}). The test "
            "split is the validation data, as in the paper. Rerun the same command to "
            "resume an interrupted invocation."
        ),
    )
    add = parser.add_argument
    add(
        "--quick",
        action="store_true",
        help=(
            "a smoke run that learns within minutes on a CPU: one "
            f"{quick['methods'][0]} run with a smaller {quick['num_modules']} x "
            f"{quick['module_size']} assembly, C={quick['coupling_blocks'][0]}, "
            f"{quick['limit_train']} train / {quick['limit_test']} test sequences, "
            f"{quick['epochs']} epochs of batch {quick['batch_size']}, learning rate "
            f"{quick['learning_rate']:g} (x0.1 from epoch {quick['lr_drops'][0] + 1}); "
            "other flags override these"
        ),
    )
    journal = JOURNAL_DEFAULTS
    add(
        "--journal",
        action="store_true",
        help=(
            "the MNIST protocol of the authors' journal follow-up: "
            f"{' and '.join(journal['methods'])}, {journal['num_modules']} x "
            f"{journal['module_size']}, C={journal['coupling_blocks'][0]}, batch "
            f"{journal['batch_size']}, {journal['optimizer']} at "
            f"{journal['learning_rate']:g} (x0.1 at epochs "
            f"{' and '.join(map(str, journal['lr_drops']))}), {journal['epochs']} epochs, "
            "test accuracy after every epoch, no early stopping, seeds "
            f"{' '.join(map(str, journal['seeds']))}; other flags override these"
        ),
    )
    add_protocol_arguments(parser, permuted=TASKS[task].permuted)
    add(
        "--output",
        help=f"results folder (default: runs/{task}, runs/{task}-quick or runs/{task}-journal)",
    )
    add_time_budget_argument(parser)
    return parser


def add_time_budget_argument(parser):
    """Adds `--time-budget SECONDS` to `parser` (see `deadline_callbacks`)."""
    parser.add_argument(
        "--time-budget", type=float, metavar="SECONDS",
        help="start no epoch that would end after this many seconds; unfinished runs "
        "resume on the next call (for time-limited or preemptible machines)",
    )  # fmt: skip


def deadline_callbacks(time_budget):
    """The callbacks of a `--time-budget` that starts now: none without one.

    Raises:
        ValueError: if `time_budget` is not None or a finite number > 0.
    """
    if time_budget is None:
        return []
    return [StopBeforeDeadline(time.time() + check_seconds("time_budget", time_budget))]


def parse_protocol(task, argv=None):
    """The `Protocol` described by command-line arguments `argv` (default `sys.argv[1:]`)."""
    return _parse(task, argv)[0]


def _parse(task, argv):
    parser = build_parser(task)
    args = parser.parse_args(argv)
    try:
        protocol = Protocol.create(
            task,
            quick=args.quick,
            journal=args.journal,
            output=args.output,
            **protocol_settings(args),
        )
        deadline_callbacks(args.time_budget)
    except ValueError as exc:
        parser.error(str(exc))
    return protocol, args


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def command_line_exit():
    """Ends a command line that trains runs in one line, not a traceback.

    SIGTERM is turned into an interruption like Ctrl-C, so that the run's
    lock file is removed on the way out. An interrupted command exits with
    status 130 and says how to resume; a run another process trains, with
    status 1 and the lock's message.

    Example:
    >>> with command_line_exit():
    ...     pass
    """
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        yield
    except KeyboardInterrupt:
        print(
            "interrupted: every finished epoch is backed up; rerun the same command to "
            "resume",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    except storage.RunLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def main(task, argv=None, callbacks=()):
    """Runs the command line of `examples/<task>.py`.

    Args:
        task: `"smnist"` or `"psmnist"`.
        argv: the arguments (default `sys.argv[1:]`); `--help` lists them.
        callbacks: extra Keras callbacks for every run (see `train_run`).

    Returns:
        The run records of this invocation.

    Example (about two minutes on a laptop CPU):

        python examples/psmnist.py --quick
    """
    protocol, args = _parse(task, argv)
    # A run over several processes joins here, when Keras' variables say so.
    initialize_processes()
    callbacks = [*callbacks, *deadline_callbacks(args.time_budget)]
    with command_line_exit():
        return run_protocol(protocol, callbacks)
