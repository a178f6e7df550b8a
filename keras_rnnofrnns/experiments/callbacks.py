"""The few callbacks the experiment protocol needs beyond Keras's own."""

import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Adds the epoch's wall time in seconds to the logs as `epoch_seconds`.

    Put it before `CSVLogger` (and any other callback that reads the logs):
    callbacks share one logs dict, so those after it record the time too.
    The time covers training and validation of the epoch.

    Example:
    >>> import numpy as np, keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> history = model.fit(np.zeros((4, 2)), np.zeros(4), epochs=2, verbose=0,
    ...                     callbacks=[EpochTimer()])
    >>> len(history.history["epoch_seconds"])
    2
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


class ResumedEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` that also counts the epochs of an interrupted run.

    `BackupAndRestore` restores the weights and the epoch, but a fresh
    `EarlyStopping` would forget how long the monitored value has been on a
    plateau and so train longer after every interruption. This one replays
    the logged epochs that precede the first epoch it sees (the one
    `BackupAndRestore` resumes at), so it stops at the same epoch as an
    uninterrupted run would.

    Args:
        previous_logs: per-epoch log dicts of the earlier attempts, each with
            an int `"epoch"` (e.g. from `history_from_csv`). Epochs at or
            after the resumed one are ignored: they are trained again.
        **kwargs: `keras.callbacks.EarlyStopping` arguments.

    Example:
    >>> logs = [{"epoch": 0, "val_accuracy": 0.5}, {"epoch": 1, "val_accuracy": 0.4}]
    >>> stop = ResumedEarlyStopping(logs, monitor="val_accuracy", mode="max",
    ...                             patience=3)
    >>> stop.set_model(keras.Sequential([keras.Input((1,))]))
    >>> stop.on_train_begin()
    >>> stop.on_epoch_begin(2)
    >>> stop.best, stop.wait
    (0.5, 1)
    """

    def __init__(self, previous_logs=(), **kwargs):
        super().__init__(**kwargs)
        self.previous_logs = list(previous_logs)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._replayed = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._replayed:
            return
        self._replayed = True
        for previous in self.previous_logs:
            if previous["epoch"] < epoch:
                self.on_epoch_end(previous["epoch"], dict(previous))
