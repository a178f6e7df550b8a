"""The few callbacks the experiment protocol needs beyond Keras's own."""

import math
import numbers
import time

import keras


def check_seconds(name, value, positive=True):
    """Returns `value` as a float if it is a finite number of seconds > 0
    (>= 0 when `positive` is False); numpy numbers count, bools and NaN do not.

    Raises:
        ValueError: naming the argument, its value and what is allowed.

    Example:
    >>> check_seconds("time_budget", 60)
    60.0
    >>> check_seconds("grace", float("nan"), positive=False)
    Traceback (most recent call last):
    ...
    ValueError: Invalid `grace`: received grace=nan; expected a finite number >= 0.
    """
    # NaN fails every comparison, so it is refused with the rest.
    number = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if not number or not (value > 0 if positive else value >= 0) or not value < math.inf:
        raise ValueError(
            f"Invalid `{name}`: received {name}={value!r}; expected a finite number "
            + ("> 0." if positive else ">= 0.")
        )
    return float(value)


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

    A resumed run restores its weights and its epoch from its backup
    (`storage.restore_point`), but a fresh `EarlyStopping` would forget how
    long the monitored value has been on a plateau and so train longer after
    every interruption. This one replays the logged epochs that precede the
    first epoch it sees (the one the run resumes at), so it stops at the
    same epoch as an uninterrupted run would.

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


class StopBeforeDeadline(keras.callbacks.Callback):
    """Stops training at the end of an epoch when the next one would end after a deadline.

    For machines lent in stretches of a few minutes: training ends cleanly
    between epochs, once everything the callbacks before it write (logs,
    record, backup) is saved, instead of being killed in
    the middle of an epoch. Whether the next epoch fits is judged from the
    longest epoch of this `fit` call so far (the first one includes the
    compilation), so the first epoch always runs.

    Args:
        deadline: the time, in seconds since the epoch (`time.time()`), by
            which training should be over.

    Attributes:
        stopped_epoch: the epoch after which it stopped training, or None.

    Example:
    >>> import time, numpy as np, keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> stop = StopBeforeDeadline(time.time() - 1)  # Already past: one epoch.
    >>> history = model.fit(np.zeros((4, 2)), np.zeros(4), epochs=5, verbose=0,
    ...                     callbacks=[stop])
    >>> len(history.history["loss"]), stop.stopped_epoch
    (1, 0)
    """

    def __init__(self, deadline):
        super().__init__()
        # A NaN deadline would never stop anything: a budget of nan seconds.
        self.deadline = check_seconds("deadline", deadline)
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self._longest = 0.0
        self.stopped_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        now = time.time()
        self._longest = max(self._longest, now - self._start)
        if now + self._longest > self.deadline:
            self.stopped_epoch = epoch
            self.model.stop_training = True
