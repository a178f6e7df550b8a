"""SkewCoupling: trainable inter-module coupling that is skew in a diagonal metric."""

import keras
import numpy as np
from keras import ops

from keras_rnnofrnns.checks import check_int, check_positive_float
from keras_rnnofrnns._layers import add_constant_weight
from keras_rnnofrnns.constraints.skew import check_metric, metric_skew
from keras_rnnofrnns.coupling.topology import resolve_coupling_pairs


@keras.saving.register_keras_serializable(package="keras_rnnofrnns")
class BlockOrthogonal(keras.initializers.Initializer):
    """Initialises a stack of square blocks, each one an orthogonal matrix.

    Keras's `Orthogonal` applied to a (C, N, N) shape makes the flattened
    (C*N, N) matrix orthogonal, not each block; coupling blocks are
    initialised one by one, as in the authors' code.

    Args:
        gain: multiplier of each block.
        seed: int or None. With an int, block c uses seed `seed + c`, so the
            stack is reproducible.

    Example:
    >>> import numpy as np
    >>> w = np.asarray(BlockOrthogonal(seed=0)((3, 4, 4)))
    >>> bool(np.allclose(w[1] @ w[1].T, np.eye(4), atol=1e-5))
    True
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = check_positive_float("gain", gain)
        self.seed = None if seed is None else check_int("seed", seed, 0)

    def __call__(self, shape, dtype=None):
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(
                f"Invalid `shape`: received shape={tuple(shape)}; expected "
                "(num_blocks, n, n) for a stack of square blocks."
            )
        # The QR decomposition behind Orthogonal has no float16 / bfloat16
        # kernel: draw in float32 and cast, as mixed precision would.
        blocks = [
            keras.initializers.Orthogonal(
                gain=self.gain, seed=None if self.seed is None else self.seed + c
            )((shape[1], shape[2]), dtype="float32")
            for c in range(shape[0])
        ]
        if not blocks:
            return ops.zeros(shape, dtype=dtype)
        return ops.cast(ops.stack(blocks, axis=0), dtype or keras.config.floatx())

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_rnnofrnns")
class BlockUniform(keras.initializers.Initializer):
    """Uniform in +-scale / sqrt(n) for a stack of (n, n) blocks.

    The coupling initialisation of the authors' journal code,
    U(-1/sqrt(N), 1/sqrt(N)) per entry for module size N; Keras's fan-based
    initializers would count the number of blocks into the fan.

    Args:
        scale: > 0, the bound is `scale / sqrt(n)`; default 1.
        seed: int or None.

    Example:
    >>> import numpy as np
    >>> w = np.asarray(BlockUniform(seed=0)((3, 4, 4)))
    >>> bool(np.abs(w).max() <= 0.5)
    True
    """

    def __init__(self, scale=1.0, seed=None):
        self.scale = check_positive_float("scale", scale)
        self.seed = None if seed is None else check_int("seed", seed, 0)

    def __call__(self, shape, dtype=None):
        limit = self.scale / float(np.sqrt(shape[-1]))
        return keras.initializers.RandomUniform(-limit, limit, seed=self.seed)(shape, dtype=dtype)

    def get_config(self):
        return {"scale": self.scale, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_rnnofrnns")
class SkewCoupling(keras.layers.Layer):
    """The coupling `L x` of an assembly of modules, skew in a diagonal metric.

    The state `x` of size H = `num_modules * module_size` is split into
    modules of `module_size` units. For each coupled pair (i, j), i < j, a
    free trainable block `B_ij` (module_size x module_size) defines
    `L_ij = B_ij` (module i receives from module j) and
    `L_ji = -P_j^-1 B_ij^T P_i`; all other blocks, the diagonal ones included,
    are zero. In matrix form `L = B - P^-1 B^T P`, so `P L + L^T P = 0`
    exactly (up to float rounding) for any value of the parameters: skewness
    is a re-parameterisation, not a projection, and holds at every step of
    training. With `metric=None`, P = I and `L_ji = -L_ij^T`, the rule of the
    paper. Such a coupling adds nothing to the symmetric part of the
    Jacobian in the metric P, so it cannot destroy the contraction of modules
    that contract in P.

    `call` never forms the H x H matrix: it gathers the coupled modules and
    applies the C blocks, p^2 / (2 C) times less arithmetic than a dense
    product. `coupling_operator()` builds the dense matrix once
    for code that applies it many times.

    Args:
        num_modules: p >= 1, the number of modules.
        module_size: N >= 1, units per module.
        coupling_blocks: an int C (pairs drawn uniformly at random with
            `seed`, 0 allowed, at most p(p-1)/2) or an explicit list of
            (i, j) module pairs. Stored resolved in the config.
        metric: optional vector of H positive numbers, the diagonal of P.
        seed: int or None: draws the pairs and seeds the default initializer.
        kernel_initializer: initializer of the (C, N, N) block stack;
            default `BlockOrthogonal` (each block orthogonal).
        kernel_regularizer: optional regularizer of the blocks.
        kernel_constraint: optional constraint of the blocks (applied after
            optimizer steps; skewness needs none).

    Call arguments:
        states: tensor of shape (batch, H).

    Returns:
        `L x` for each row: a tensor of shape (batch, H).

    Example:
    >>> import numpy as np
    >>> layer = SkewCoupling(num_modules=4, module_size=3, coupling_blocks=2, seed=0)
    >>> y = layer(np.ones((5, 12), dtype="float32"))
    >>> tuple(y.shape)
    (5, 12)
    >>> L = layer.coupling_matrix()
    >>> bool(np.allclose(L, -L.T, atol=1e-6))
    True
    """

    def __init__(
        self,
        num_modules,
        module_size,
        coupling_blocks,
        metric=None,
        seed=None,
        kernel_initializer=None,
        kernel_regularizer=None,
        kernel_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_modules = check_int("num_modules", num_modules, 1)
        self.module_size = check_int("module_size", module_size, 1)
        self.seed = None if seed is None else check_int("seed", seed, 0)
        self.pairs = resolve_coupling_pairs(coupling_blocks, self.num_modules, self.seed)
        self.units = self.num_modules * self.module_size
        self.metric = check_metric(metric, self.units)
        if kernel_initializer is None:
            kernel_initializer = BlockOrthogonal(seed=self.seed)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.kernel = None

    @property
    def num_pairs(self):
        return len(self.pairs)

    def build(self, input_shape=None):
        if input_shape is not None:
            self._check_states_shape(input_shape)
        if self.num_pairs:
            n = self.module_size
            self.kernel = self.add_weight(
                shape=(self.num_pairs, n, n),
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
                name="kernel",
            )
            # One-hot (C, p) maps pair -> receiving / sending module. They are
            # stored as non-trainable weights rather than host constants so
            # that no numpy crosses into the per-step computation on any
            # backend or under a distribution strategy.
            receivers = np.zeros((self.num_pairs, self.num_modules))
            senders = np.zeros((self.num_pairs, self.num_modules))
            for c, (i, j) in enumerate(self.pairs):
                receivers[c, i] = 1.0
                senders[c, j] = 1.0
            self.receivers = add_constant_weight(self, "receivers", receivers)
            self.senders = add_constant_weight(self, "senders", senders)
        if self.metric is not None:
            self.metric_weight = add_constant_weight(self, "metric", self.metric)
        self.built = True

    def _check_states_shape(self, shape):
        if len(shape) != 2 or (shape[-1] is not None and shape[-1] != self.units):
            raise ValueError(
                f"Invalid `states` for SkewCoupling: received shape {tuple(shape)}; "
                f"expected a rank-2 tensor (batch, {self.units}) where "
                f"{self.units} = num_modules * module_size."
            )

    def _metric_blocks(self, dtype):
        return ops.reshape(
            ops.cast(self.metric_weight, dtype), (self.num_modules, self.module_size)
        )

    def call(self, states):
        self._check_states_shape(states.shape)
        if not self.num_pairs:
            return ops.zeros_like(states)
        dtype = states.dtype
        kernel = ops.cast(self.kernel, dtype)
        receivers = ops.cast(self.receivers, dtype)
        senders = ops.cast(self.senders, dtype)
        modules = ops.reshape(states, (-1, self.num_modules, self.module_size))
        weighted = modules
        if self.metric is not None:
            metric = self._metric_blocks(dtype)
            weighted = modules * metric
        from_senders = ops.einsum("bpn,cp->bcn", modules, senders)
        from_receivers = ops.einsum("bpn,cp->bcn", weighted, receivers)
        # L_ij x_j = B x_j reaches module i; L_ji x_i = -P_j^-1 B^T P_i x_i reaches j.
        to_receivers = ops.einsum("bcn,cmn->bcm", from_senders, kernel)
        to_senders = ops.einsum("bcm,cmn->bcn", from_receivers, kernel)
        back = ops.einsum("bcn,cp->bpn", to_senders, senders)
        if self.metric is not None:
            back = back / metric
        out = ops.einsum("bcm,cp->bpm", to_receivers, receivers) - back
        return ops.reshape(out, (-1, self.units))

    def coupling_operator(self, dtype=None):
        """The dense H x H coupling matrix L as a backend tensor.

        Built from the current parameters with the same arithmetic as the
        forward pass; differentiable, for code that applies L many times.
        """
        if not self.built:
            self.build()
        dtype = dtype or self.compute_dtype
        if not self.num_pairs:
            return ops.zeros((self.units, self.units), dtype=dtype)
        blocks = ops.einsum(
            "cmn,ci,cj->imjn",
            ops.cast(self.kernel, dtype),
            ops.cast(self.receivers, dtype),
            ops.cast(self.senders, dtype),
        )
        upper = ops.reshape(blocks, (self.units, self.units))
        metric = None if self.metric is None else ops.cast(self.metric_weight, dtype)
        return metric_skew(upper, metric)

    def coupling_matrix(self):
        """The effective coupling L as an H x H numpy array (float64 not implied:
        the layer's compute dtype)."""
        return ops.convert_to_numpy(self.coupling_operator())

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_modules": self.num_modules,
                "module_size": self.module_size,
                "coupling_blocks": [list(pair) for pair in self.pairs],
                "metric": None if self.metric is None else self.metric.tolist(),
                "seed": self.seed,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            }
        )
        return config
