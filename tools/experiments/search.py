"""Run a KerasTuner search on (permuted) sequential MNIST and summarise it.

The search itself, its resumption and its checkpoints are KerasTuner's: a
tuner made with `overwrite=False` on an existing folder reloads its oracle,
so finished trials are not run again and an interrupted trial is retried.
This module adds the choice of tuner, the checks that a resumed search
trains on the same data (loaded with `keras_rnnofrnns.data.load_task`) the
same way, and the summary: a markdown table and `summary.json` of the best
configurations, and a plot of validation accuracy against coupling density
per module strategy.
"""

import dataclasses
import hashlib
import importlib.util
import os
import warnings

import keras
import keras_tuner
import numpy as np

from keras_rnnofrnns.checks import fail, check_choice, check_int, check_real, check_seed
from tools.experiments.tasks import TaskData
from keras_rnnofrnns.distribution import describe_devices
from tools.experiments.records import read_json, write_json
from tools.experiments.storage import atomic_write, atomic_write_text
from keras_rnnofrnns.tuning import TUNED, coupling_density

TUNERS = {
    "random": keras_tuner.RandomSearch,
    "bayesian": keras_tuner.BayesianOptimization,
    "hyperband": keras_tuner.Hyperband,
}
OBJECTIVE = "val_accuracy"
_STATUS = keras_tuner.engine.trial.TrialStatus

SUMMARY_MARKDOWN = "summary.md"
# The data and training settings of a search, checked when it is resumed.
SETTINGS_JSON = "search_settings.json"
SUMMARY_JSON = "summary.json"
DENSITY_PLOT = "accuracy_vs_density.png"

_COLUMNS = (
    ("rank", "rank"),
    ("trial", "trial_id"),
    ("method", "method"),
    ("C", "coupling_blocks"),
    ("density", "coupling_density"),
    ("dt", "dt"),
    ("learning rate", "learning_rate"),
    ("val accuracy", "val_accuracy"),
    ("test accuracy", "test_accuracy"),
)


def make_tuner(
    tuner,
    hypermodel,
    *,
    max_trials=10,
    epochs=10,
    directory="tuning",
    project_name="search",
    seed=0,
    overwrite=False,
):
    """A KerasTuner tuner over `hypermodel` with objective `val_accuracy`.

    Args:
        tuner: a key of `TUNERS`: `"random"`, `"bayesian"` or `"hyperband"`.
        hypermodel: an `AssemblyHyperModel` (any `keras_tuner.HyperModel`).
        max_trials: trials of random search and Bayesian optimisation.
            Hyperband ignores it: its brackets set the number of trials.
        epochs: Hyperband's `max_epochs` (the epochs of a fully trained model);
            the other tuners take the epochs from `search`.
        directory, project_name: the results are in
            `directory/project_name`; an existing folder is resumed.
        seed: seed of the tuner's draws.
        overwrite: start afresh, deleting the folder's previous results.

    Returns:
        A `keras_tuner.Tuner`.

    Example:
    >>> from keras_rnnofrnns.tuning import AssemblyHyperModel
    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> tuner = make_tuner("hyperband", AssemblyHyperModel(2, 4, sequence_length=28),
    ...                    epochs=3, directory=folder.name)
    >>> type(tuner).__name__, tuner.oracle.max_epochs
    ('Hyperband', 3)
    >>> folder.cleanup()
    """
    check_choice("tuner", tuner, tuple(TUNERS))
    if keras.backend.backend() == "tensorflow" and importlib.util.find_spec("tensorboard") is None:
        # KerasTuner imports TensorBoard in every trial on this backend, and
        # would record each trial as failed rather than stop.
        raise ImportError(
            "KerasTuner on the TensorFlow backend needs TensorBoard, which is "
            "not installed. Install it with `pip install tensorboard`."
        )
    check_int("max_trials", max_trials, 1)
    check_int("epochs", epochs, 1)
    check_seed("seed", seed)
    budget = {"max_epochs": epochs} if tuner == "hyperband" else {"max_trials": max_trials}
    return TUNERS[tuner](
        hypermodel,
        objective=OBJECTIVE,
        seed=seed,
        directory=os.fspath(directory),
        project_name=project_name,
        overwrite=overwrite,
        **budget,
    )


@dataclasses.dataclass
class SearchResult:
    """What `run_search` did and wrote.

    Attributes:
        tuner: the `keras_tuner.Tuner`, for `get_best_models()` and friends.
        best: the summary rows of the best configurations, best first (see
            `rank_trials`).
        trials: the rows of every completed trial, best first.
        trials_run: trials this call ran (0 when it resumed a finished search).
        paths: the written files: `"markdown"`, `"json"` and `"plot"` (None
            when no trial completed). Empty on a worker of a distributed
            search: the chief writes the summary.
        trial_ids_run: the ids of those trials. On a worker of a
            distributed search, the trials this worker ran, and `best` and
            `trials` are empty.
    """

    tuner: object
    best: list
    trials: list
    trials_run: int
    paths: dict
    trial_ids_run: list = dataclasses.field(default_factory=list)


def distributed_worker_id():
    """The tuner id of this process if it is a worker of a distributed KerasTuner search.

    KerasTuner runs a search over several processes when
    `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` are set: the process
    whose `KERASTUNER_TUNER_ID` contains `"chief"` serves the oracle, every
    other one is a worker that asks it for trials and trains them.

    Returns:
        `KERASTUNER_TUNER_ID` (e.g. `"tuner0"`) on a worker; None on the
        chief and outside a distributed search.

    Example:
    >>> import os
    >>> "KERASTUNER_ORACLE_IP" in os.environ or distributed_worker_id() is None
    True
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
    return None if "chief" in tuner_id else tuner_id


def check_search_settings(
    *, tuner, max_trials, epochs, batch_size, validation_split, patience, top, seed
):
    """Checks `run_search`'s settings, so a command line can refuse them before
    reading any data.

    Raises:
        ValueError: naming the first bad setting, its value and what is allowed.
    """
    check_choice("tuner", tuner, tuple(TUNERS))
    check_int("max_trials", max_trials, 1)
    check_int("epochs", epochs, 1)
    check_int("batch_size", batch_size, 1)
    check_real(
        "validation_split", validation_split, 0, 1, include_minimum=False, include_maximum=False
    )
    if patience is not None:
        check_int("patience", patience, 1)
    check_int("top", top, 1)
    check_seed("seed", seed)


def _data_settings(task, data, epochs, batch_size, validation_split, patience, seed):
    """What a resumed search must share with the trials already run (the seed
    too: the draws of a resumed search would not follow the first ones')."""
    digest = hashlib.sha256()
    for array in (data.x_train, data.y_train):
        digest.update(np.ascontiguousarray(array).tobytes())
    return {
        "task": task,
        "training_examples": len(data.y_train),
        "training_data_sha256": digest.hexdigest(),
        "validation_split": float(validation_split),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "patience": patience,
        "seed": int(seed),
    }


def _check_same_settings(folder, settings, trials):
    """Refuses to resume a search in `folder` made with other data or training.

    The tuner compares only the search space; trials trained on other data,
    for other epochs or at another batch size would be ranked together.
    """
    path = os.path.join(folder, SETTINGS_JSON)
    damaged = (
        f"Invalid `directory`: the settings file {path!r} of the search in {folder!r} is "
        "damaged ({}), so the trials there cannot be checked against this search; "
        "expected the JSON object a search writes. Restore the file from a copy, or use "
        "another project name (--project-name) or start afresh (overwrite=True / "
        "--overwrite)."
    )
    try:
        before = read_json(path)
    except ValueError as exc:
        raise ValueError(damaged.format(f"not valid JSON: {exc.__cause__ or exc}")) from exc
    if before is not None and not isinstance(before, dict):
        raise ValueError(damaged.format(f"a JSON {type(before).__name__}, not an object"))
    if before is not None:
        # Written before the seed was kept: the trials' seed is unknown.
        before = {"seed": settings["seed"], **before}
    if before is None:
        if trials:
            warnings.warn(
                f"{folder} holds {trials} trial(s) but no {SETTINGS_JSON} (an earlier "
                "version's search): its data and training settings cannot be checked."
            )
        write_json(path, settings)
        return
    differ = sorted(key for key in settings if before.get(key) != settings[key])
    if differ:
        raise ValueError(
            f"Invalid `directory`: the search in {folder!r} was made with other "
            + ", ".join(f"{k} ({before.get(k)!r}, now {settings[k]!r})" for k in differ)
            + "; expected the same data, epochs, batch size and seed to resume it. Use "
            "another project name (--project-name) or start afresh (overwrite=True / "
            "--overwrite)."
        )


def run_search(
    hypermodel,
    data,
    *,
    tuner="random",
    max_trials=10,
    epochs=10,
    directory="tuning",
    project_name=None,
    batch_size=64,
    validation_split=0.1,
    patience=None,
    top=5,
    seed=0,
    overwrite=False,
    verbose=1,
):
    """Searches `hypermodel` on `data`, resuming a previous search, and summarises it.

    Validation is the last `validation_split` of the training examples (Keras
    `fit(validation_split=...)`), the same for every trial, so the test split
    stays out of model selection; the best `top` models are then evaluated
    once on `data.x_test`. Finished trials of a previous call on the same
    folder are not run again; raising `max_trials` adds trials.

    In a distributed KerasTuner search (`KERASTUNER_TUNER_ID`,
    `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT` set) the chief serves
    the oracle, returns once every trial has ended and then writes the
    summary as above; a worker trains the trials the chief hands it and
    returns when there are none left (see `SearchResult.trial_ids_run`).
    Every process makes the same checks, against the chief's space.

    Args:
        hypermodel: an `AssemblyHyperModel` whose `sequence_length` matches
            the data.
        data: a `keras_rnnofrnns.data.TaskData` (see
            `keras_rnnofrnns.data.load_task`).
        tuner: `"random"`, `"bayesian"` or `"hyperband"`.
        max_trials: total trials of the search (not of this call).
        epochs: epochs per trial (Hyperband: at most).
        directory: results folder.
        project_name: sub-folder of this search; default `"<task>-<tuner>"`.
        batch_size: training batch size.
        validation_split: fraction in (0, 1) of training examples held out.
        patience: None, or stop a trial after this many epochs without a
            better `val_accuracy` (`keras.callbacks.EarlyStopping`).
        top: rows of the summary table (and models evaluated on the test set).
        seed: seed of the tuner's draws.
        overwrite: delete the folder's previous results first; only the
            chief of a distributed search may.
        verbose: 0 silent, 1 KerasTuner's and Keras' progress, after a
            `Training on: ...` line (`describe_devices`).

    Returns:
        A `SearchResult`; the summary files are in `directory/project_name`.
    """
    check_search_settings(
        tuner=tuner,
        max_trials=max_trials,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=validation_split,
        patience=patience,
        top=top,
        seed=seed,
    )
    if not isinstance(data, TaskData):
        raise ValueError(
            f"Invalid `data`: received data={data!r}; expected the TaskData of a task, "
            "from keras_rnnofrnns.data.load_task."
        )
    worker = distributed_worker_id()
    if worker and overwrite:
        fail(
            "overwrite",
            overwrite,
            f"False on {worker}, a worker of a distributed search: a worker that "
            "deleted the folder would delete the chief's oracle; overwrite on the chief only",
        )
    task = data.task
    project_name = project_name or f"{task}-{tuner}"
    search = make_tuner(
        tuner,
        hypermodel,
        max_trials=max_trials,
        epochs=epochs,
        directory=directory,
        project_name=project_name,
        seed=seed,
        overwrite=overwrite,
    )
    if worker and verbose:
        # A worker's first call blocks until the chief serves the oracle.
        print(
            f"Worker {worker}: asking the chief at {os.environ['KERASTUNER_ORACLE_IP']}:"
            f"{os.environ.get('KERASTUNER_ORACLE_PORT')} for trials",
            flush=True,
        )
    # Before any training: a resumed folder must hold this very space, and
    # its trials must have been trained the same way on the same data.
    hypermodel.check_space(search.oracle.get_space())
    _check_same_settings(
        search.project_dir,
        _data_settings(task, data, epochs, batch_size, validation_split, patience, seed),
        # A worker's oracle is a client of the chief's that cannot list its
        # trials; the chief has already checked the folder it serves.
        0 if worker else len(search.oracle.trials),
    )
    callbacks = []
    if patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor=OBJECTIVE, mode="max", patience=patience)
        )
    if verbose:
        print(f"Training on: {describe_devices()}")
    fit_arguments = dict(
        epochs=epochs,
        batch_size=batch_size,
        validation_split=validation_split,
        callbacks=callbacks,
        verbose=verbose,
    )
    if worker:
        return _run_worker(search, worker, data, fit_arguments, verbose)
    finished_before = len(search.oracle.end_order)
    search.search(data.x_train, data.y_train, **fit_arguments)
    failed = _failed_trials(search)
    trials = rank_trials(search)
    if failed and not trials:
        raise RuntimeError(
            f"No trial of the search in {search.project_dir} completed; the "
            f"first failure was:\n{failed[0].message or 'no message'}"
        )
    if failed:
        reason = ((failed[0].message or "").strip().splitlines() or ["no message"])[-1]
        warnings.warn(
            f"{len(failed)} trial(s) failed, e.g. trial {failed[0].trial_id}: "
            f"{reason}. The summary lists the completed ones."
        )
    best = trials[:top]
    for row in best:
        with warnings.catch_warnings():
            # The checkpoint holds the optimizer's state, which evaluation
            # does not need; Keras warns that it skips it.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model = search.load_model(search.oracle.get_trial(row["trial_id"]))
        scores = model.evaluate(
            data.x_test, data.y_test, batch_size=batch_size, verbose=0, return_dict=True
        )
        row["test_accuracy"] = float(scores["accuracy"])
    metadata = {
        "task": task,
        "tuner": tuner,
        "objective": OBJECTIVE,
        "max_trials": None if tuner == "hyperband" else max_trials,
        "epochs": epochs,
        "training_examples": len(data.y_train),
        "validation_split": validation_split,
        "test_examples": len(data.y_test),
        "num_modules": hypermodel.num_modules,
        "module_size": hypermodel.module_size,
        "max_coupling_blocks": hypermodel.max_coupling_blocks,
        "trials_completed": len(trials),
        "trials_failed": len(failed),
        "trials_run_now": len(search.oracle.end_order) - finished_before,
    }
    folder = search.project_dir
    paths = write_search_summary(folder, metadata, best, trials)
    if verbose:
        print(markdown_table(best))
        print(f"Summary written to {folder}")
    return SearchResult(
        tuner=search,
        best=best,
        trials=trials,
        trials_run=metadata["trials_run_now"],
        paths=paths,
        trial_ids_run=list(search.oracle.end_order[finished_before:]),
    )


def _run_worker(search, worker, data, fit_arguments, verbose):
    """Runs a distributed search's trials on a worker, until the chief has none left.

    The worker then stops without asking the chief anything more: the chief
    stops serving once every worker has been told the search is over.
    """
    ran = []
    end_trial = search.on_trial_end

    def record_and_end(trial):
        # The chief's oracle knows which trials ended, not who ran them.
        end_trial(trial)
        ran.append(trial.trial_id)

    search.on_trial_end = record_and_end
    search.search(data.x_train, data.y_train, **fit_arguments)
    if verbose:
        print(f"Worker {worker} ran trial(s) {', '.join(ran) or 'none'}; the chief "
              "writes the summary.", flush=True)
    return SearchResult(
        tuner=search, best=[], trials=[], trials_run=len(ran), paths={}, trial_ids_run=ran
    )


def _failed_trials(tuner):
    # INVALID is a failure KerasTuner would have retried; once the search is
    # over it will not be, so both count as failed here.
    failed = (_STATUS.FAILED, _STATUS.INVALID)
    return [trial for trial in tuner.oracle.trials.values() if trial.status in failed]


def rank_trials(tuner):
    """One row per completed trial of `tuner`, best `val_accuracy` first.

    Args:
        tuner: a tuner over an `AssemblyHyperModel`.

    Returns:
        A list of dicts with `trial_id`, `rank`, the tuned values (`method`,
        `coupling_blocks`, `dt`, `learning_rate`), `coupling_density`,
        `val_accuracy` (the trial's best) and `test_accuracy` (None until
        `run_search` evaluates it).
    """
    completed = [
        trial
        for trial in tuner.oracle.trials.values()
        if trial.status == _STATUS.COMPLETED
    ]
    completed.sort(key=lambda trial: trial.score, reverse=True)
    rows = []
    for rank, trial in enumerate(completed, start=1):
        values = trial.hyperparameters.values
        row = {"rank": rank, "trial_id": trial.trial_id}
        row.update({name: values[name] for name in TUNED})
        row["coupling_density"] = coupling_density(
            values["coupling_blocks"], values["num_modules"]
        )
        row["val_accuracy"] = float(trial.score)
        row["test_accuracy"] = None
        rows.append(row)
    return rows


def markdown_table(rows):
    """The summary rows as a markdown table (one line per row).

    Example:
    >>> print(markdown_table([]).splitlines()[0])
    | rank | trial | method | C | density | dt | learning rate | val accuracy | test accuracy |
    """
    lines = [
        "| " + " | ".join(title for title, _ in _COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[key]) for _, key in _COLUMNS) + " |")
    return "\n".join(lines)


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_search_summary(folder, metadata, best, trials):
    """Writes `summary.md`, `summary.json` and the density plot into `folder`.

    Returns:
        The paths written, by kind: `"markdown"`, `"json"`, `"plot"` (None
        when `trials` is empty: there is nothing to plot).
    """
    paths = {
        "markdown": os.path.join(folder, SUMMARY_MARKDOWN),
        "json": os.path.join(folder, SUMMARY_JSON),
        "plot": os.path.join(folder, DENSITY_PLOT) if trials else None,
    }
    heading = (
        f"# Best configurations: {metadata['task']}, {metadata['tuner']} search\n\n"
        f"{metadata['trials_completed']} trials completed; objective "
        f"{metadata['objective']} on {metadata['validation_split']:.0%} of "
        f"{metadata['training_examples']} training examples held out; test "
        f"accuracy on {metadata['test_examples']} test examples. Assembly of "
        f"{metadata['num_modules']} x {metadata['module_size']} units, C out of "
        f"{metadata['max_coupling_blocks']} pairs.\n\n"
    )
    atomic_write_text(paths["markdown"], heading + markdown_table(best) + "\n")
    write_json(paths["json"], {**metadata, "best": best, "trials": trials})
    if trials:
        plot_accuracy_vs_density(trials, paths["plot"])
    return paths


def plot_accuracy_vs_density(trials, path):
    """Plots validation accuracy against coupling density, one series per method.

    Args:
        trials: summary rows (see `rank_trials`).
        path: the PNG file to write.
    """
    # matplotlib is optional and slow to import: only when a plot is made. A
    # bare Figure draws with Agg without touching pyplot's global backend.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    for method in sorted({row["method"] for row in trials}):
        points = sorted(
            (row["coupling_density"], row["val_accuracy"])
            for row in trials
            if row["method"] == method
        )
        # Markers only: neighbouring points differ in dt and learning rate
        # too, so a line through them would suggest a curve that is not there.
        axes.plot(*zip(*points), marker="o", linestyle="none", label=method)
    axes.set_xlabel("coupling density C / (p(p-1)/2)")
    axes.set_ylabel("validation accuracy")
    axes.set_xlim(-0.02, 1.02)
    axes.legend(title="method")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=120, format="png"))
