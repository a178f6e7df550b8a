"""AssemblyCell: one forward-Euler step of a stable assembly of RNN modules."""

import keras
import numpy as np
from keras import ops

from keras_rnnofrnns._checks import (
    _fail,
    check_bool,
    check_choice,
    check_int,
    check_positive_float,
    check_real,
    check_seed,
)
from keras_rnnofrnns._layers import add_constant_weight
from keras_rnnofrnns.constraints.diagonal import ClipDiag, TanhDiag
from keras_rnnofrnns.coupling.skew_coupling import BlockOrthogonal, SkewCoupling
from keras_rnnofrnns.modules.sparse_combo import (
    block_diagonal,
    contraction_metric,
    sparse_contracting_blocks,
)

MODULE_WEIGHTS = ("tanh_diag", "clip_diag", "sparse")

# Activations whose slope lies in [0, 1] everywhere: the contraction
# guarantees (Theorem 1 and the diagonal bound) need exactly that.
CONTRACTING_ACTIVATIONS = (
    "tanh",
    "relu",
    "sigmoid",
    "hard_sigmoid",
    "hard_tanh",
    "softsign",
    "linear",
)


def _activation_name(activation):
    name = activation
    if callable(activation):
        name = keras.activations.serialize(activation)
        if isinstance(name, dict):
            name = None
    if name not in CONTRACTING_ACTIVATIONS:
        _fail(
            "activation",
            activation,
            "an activation with slope in [0, 1], by name: "
            + ", ".join(CONTRACTING_ACTIVATIONS),
        )
    return name


@keras.saving.register_keras_serializable(package="keras_rnnofrnns")
class AssemblyCell(keras.layers.Layer):
    """Cell of a contracting assembly of RNN modules (an "RNN of RNNs").

    The state x of size H = `num_modules * module_size` is p modules of N
    units. One step with input `u_t` is forward Euler on
    `tau dx/dt = -x + W phi(x) + L x + u K + b`:

        x_{t+1} = x_t + (dt / tau) * (-x_t + W phi(x_t) + L x_t + u_t K + b)

    with W = blockdiag(W_1, ..., W_p) the module matrices, L a coupling that
    is skew in the modules' contraction metric (`SkewCoupling`), K and b the
    trainable input kernel and bias. The output at each step is x_{t+1}.
    Each module contracts on its own and the coupling preserves that, so the
    continuous-time assembly contracts for every value of the trainable
    parameters: before, during and after training (`certify` checks it).

    `module_weights` chooses W:
    - `"tanh_diag"` (AdaDiag-tanh): trainable diagonal, effective entries
      `TanhDiag()(raw)`, a re-parameterisation strictly inside (-1, 1).
    - `"clip_diag"` (AdaDiag-clip): trainable diagonal with the `ClipDiag`
      projection after each optimizer step (entries at or beyond +-1 become
      +-0.99); the forward pass applies the same rule, so values set by hand
      or rounded in a lower precision cannot escape (-1, 1) either.
    - `"sparse"` (Sparse Combo Net): fixed, non-trainable sparse blocks drawn
      from `seed` with spectral radius of |W_i| at most 0.9 (Theorem 1 of
      Kozachkov et al. 2022); the coupling is skew in the diagonal metric P
      in which those blocks contract.

    Use it inside `keras.layers.RNN`; `AssemblyRNN` is the same model with a
    faster sequence-level loop.

    Args:
        num_modules: p >= 1, the number of modules.
        module_size: N >= 1, units per module.
        coupling_blocks: int C in [0, p(p-1)/2] (pairs drawn at random with
            `seed`), or an explicit list of (i, j) module pairs.
        module_weights: `"tanh_diag"` (default), `"clip_diag"` or `"sparse"`.
        density: fraction of nonzero entries of the sparse blocks, in (0, 1];
            default 0.03 (the paper also uses 0.3). Only for `"sparse"`.
        dt: Euler step, > 0; default 0.03.
        tau: time constant, > 0; default 1.0.
        activation: phi, one of `CONTRACTING_ACTIVATIONS` (slope in [0, 1]);
            default `"tanh"`.
        seed: int >= 0 or None. Draws the coupled pairs, the sparse blocks and
            the default initializers; None draws a seed once, which is then
            stored in the config so a saved model rebuilds identically.
        use_bias: whether to add the bias b. Default True.
        kernel_initializer: initializer of K (input_dim x H); default
            `"glorot_uniform"` seeded from `seed`.
        bias_initializer: initializer of b; default `"zeros"`.
        module_initializer: initializer of the raw diagonal (diagonal
            strategies); default uniform in (-1, 1) seeded from `seed`.
        coupling_initializer: initializer of the (C, N, N) coupling blocks;
            default `BlockOrthogonal` seeded from `seed`.
        kernel_regularizer, bias_regularizer, module_regularizer,
        coupling_regularizer: optional regularizers of K, b, raw diagonal and
            coupling blocks.
        kernel_constraint, bias_constraint, coupling_constraint: optional
            constraints of K, b and the coupling blocks.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor of shape (batch, input_dim), the input at one step.
        states: list holding one tensor of shape (batch, H).
        training: unused; accepted for the RNN interface.

    Returns:
        `(x_next, [x_next])` with `x_next` of shape (batch, H).

    Example:
    >>> import numpy as np, keras
    >>> from keras_rnnofrnns import certify
    >>> cell = AssemblyCell(num_modules=4, module_size=8, coupling_blocks=3,
    ...                     module_weights="clip_diag", seed=0)
    >>> layer = keras.layers.RNN(cell)
    >>> y = layer(np.zeros((2, 10, 1), dtype="float32"))
    >>> tuple(y.shape)
    (2, 32)
    >>> certify(cell).certified
    True
    """

    def __init__(
        self,
        num_modules,
        module_size,
        coupling_blocks,
        module_weights="tanh_diag",
        density=0.03,
        dt=0.03,
        tau=1.0,
        activation="tanh",
        seed=None,
        use_bias=True,
        kernel_initializer=None,
        bias_initializer="zeros",
        module_initializer=None,
        coupling_initializer=None,
        kernel_regularizer=None,
        bias_regularizer=None,
        module_regularizer=None,
        coupling_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        coupling_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_modules = check_int("num_modules", num_modules, 1)
        self.module_size = check_int("module_size", module_size, 1)
        self.module_weights = check_choice("module_weights", module_weights, MODULE_WEIGHTS)
        self.density = check_real("density", density, 0, 1, include_minimum=False)
        self.dt = check_positive_float("dt", dt)
        self.tau = check_positive_float("tau", tau)
        self.activation_name = _activation_name(activation)
        self.activation = keras.activations.get(self.activation_name)
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        self.seed = check_seed("seed", seed)
        self.use_bias = check_bool("use_bias", use_bias)
        self.units = self.num_modules * self.module_size
        self.state_size = self.units
        self.output_size = self.units

        # Each part gets its own seed so that changing one initializer does not
        # change the others' draws.
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.GlorotUniform(seed=self.seed + 1)
        if module_initializer is None:
            module_initializer = keras.initializers.RandomUniform(-1.0, 1.0, seed=self.seed + 2)
        if coupling_initializer is None:
            coupling_initializer = BlockOrthogonal(seed=self.seed + 3)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.module_initializer = keras.initializers.get(module_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.module_regularizer = keras.regularizers.get(module_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

        metric = None
        self._sparse_blocks = None
        if self.module_weights == "sparse":
            self._sparse_blocks = sparse_contracting_blocks(
                self.num_modules, self.module_size, self.density, self.seed
            )
            metric = np.concatenate([contraction_metric(b) for b in self._sparse_blocks])
        self.coupling = SkewCoupling(
            self.num_modules,
            self.module_size,
            coupling_blocks,
            metric=metric,
            seed=self.seed,
            kernel_initializer=coupling_initializer,
            kernel_regularizer=coupling_regularizer,
            kernel_constraint=coupling_constraint,
            dtype=self.dtype_policy,
            name="coupling",
        )

    @property
    def coupling_pairs(self):
        """The coupled module pairs (i, j), i < j, as a sorted tuple."""
        return self.coupling.pairs

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"Invalid input for AssemblyCell: received shape {tuple(input_shape)}; "
                "expected (batch, features) at each step with features known, i.e. "
                "sequences of shape (batch, time, features) in keras.layers.RNN."
            )
        input_dim = input_shape[-1]
        self.input_kernel = self.add_weight(
            shape=(input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="input_kernel",
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )
        if self.module_weights == "sparse":
            self.module_kernel = add_constant_weight(self, "module_kernel", self._sparse_blocks)
        else:
            clip = self.module_weights == "clip_diag"
            self.module_kernel = self.add_weight(
                shape=(self.units,),
                initializer=self.module_initializer,
                regularizer=self.module_regularizer,
                constraint=ClipDiag() if clip else None,
                name="module_kernel",
            )
            if clip:
                # Constraints run only after optimizer steps: the initial
                # values must already obey the rule.
                self.module_kernel.assign(ClipDiag()(self.module_kernel.value))
        self.coupling.build((None, self.units))
        self.built = True

    # -- the effective parameters, computed once per call -------------------

    @property
    def step_size(self):
        """dt / tau, the Euler step in units of the time constant."""
        return self.dt / self.tau

    def module_diagonal(self, dtype=None):
        """Effective diagonal of W (diagonal strategies) as a tensor of size H."""
        if self.module_weights == "sparse":
            raise ValueError(
                "module_diagonal() is for module_weights='tanh_diag' or 'clip_diag'; "
                "this cell has module_weights='sparse' (use module_matrix())."
            )
        raw = ops.cast(self.module_kernel, dtype or self.compute_dtype)
        if self.module_weights == "tanh_diag":
            return TanhDiag()(raw)
        return ClipDiag()(raw)

    def _module_term(self, phi, module, feature_major=False):
        """W phi(x) for a batch, given the diagonal or the (p, N, N) blocks.

        `phi` is (batch, H), or (H, batch) with `feature_major`; a diagonal
        `module` is then (H,) or (H, 1) respectively.
        """
        if self.module_weights != "sparse":
            return module * phi
        if feature_major:
            # (p, N, batch) is a view of (H, batch): a batched matmul with no copies.
            modules = ops.reshape(phi, (self.num_modules, self.module_size, -1))
            return ops.reshape(ops.matmul(module, modules), (self.units, -1))
        modules = ops.reshape(phi, (-1, self.num_modules, self.module_size))
        return ops.reshape(ops.einsum("bpn,pmn->bpm", modules, module), (-1, self.units))

    def _module_parameter(self, dtype):
        if self.module_weights == "sparse":
            return ops.cast(self.module_kernel, dtype)
        return self.module_diagonal(dtype)

    def _check_inputs(self, inputs):
        if len(inputs.shape) != 2:
            raise ValueError(
                f"Invalid `inputs` for AssemblyCell: received shape {tuple(inputs.shape)}; "
                "expected rank 2, (batch, features), at each step."
            )

    def input_drive(self, inputs):
        """`u K + b` for inputs of shape (..., input_dim)."""
        drive = ops.matmul(inputs, ops.cast(self.input_kernel, inputs.dtype))
        if self.bias is not None:
            drive = drive + ops.cast(self.bias, inputs.dtype)
        return drive

    def call(self, inputs, states, training=False):
        self._check_inputs(inputs)
        x = states[0] if isinstance(states, (list, tuple)) else states
        module = self._module_parameter(x.dtype)
        derivative = (
            -x
            + self._module_term(self.activation(x), module)
            + self.coupling(x)
            + self.input_drive(inputs)
        )
        x_next = x + ops.cast(self.step_size, x.dtype) * derivative
        return x_next, [x_next]

    # -- the same step for a loop that hoists the weight work ---------------

    def recurrence_operators(self, dtype=None, feature_major=False):
        """Everything the step needs that depends on the weights alone.

        Returns `(transition, module, kernel, bias, feature_major)`, the
        first four scaled by h = dt / tau, so that one step is
        `fast_step(operators, x, fast_drive(operators, u_t))`. Compute them
        once per sequence, not once per step. For states of shape
        (batch, H) they are `transition = (1 - h) I + h L^T` (H x H),
        `module` either `h * diag(W)` (H,) or the blocks `h * W_i`
        (p, N, N), `kernel = h K` (input_dim, H) and `bias = h b` (H,) or
        None without bias. With `feature_major`, for states of shape
        (H, batch) and inputs (input_dim, batch), the transition, kernel,
        bias and a diagonal module are transposed to act from the left.
        """
        dtype = dtype or self.compute_dtype
        h = ops.cast(self.step_size, dtype)
        coupling = self.coupling.coupling_operator(dtype)
        if not feature_major:
            coupling = ops.transpose(coupling)
        transition = (1.0 - h) * ops.eye(self.units, dtype=dtype) + h * coupling
        module = h * self._module_parameter(dtype)
        kernel = h * ops.cast(self.input_kernel, dtype)
        bias = None if self.bias is None else h * ops.cast(self.bias, dtype)
        if feature_major:
            kernel = ops.transpose(kernel)
            bias = None if bias is None else ops.expand_dims(bias, 1)
            if self.module_weights != "sparse":
                module = ops.expand_dims(module, 1)
        return transition, module, kernel, bias, feature_major

    def fast_drive(self, operators, inputs):
        """`h (u K + b)` from `recurrence_operators()`.

        `inputs` has shape (..., input_dim), or (..., input_dim, batch) for
        feature-major operators.
        """
        _, _, kernel, bias, feature_major = operators
        drive = ops.matmul(kernel, inputs) if feature_major else ops.matmul(inputs, kernel)
        # `+`, not ops.add: Keras 3.15's TensorFlow ops.add adds an (n, 1)
        # operand of an (n, n) tensor along the last axis, as a bias.
        return drive if bias is None else drive + bias

    def fast_step(self, operators, x, drive):
        """One step from `recurrence_operators()` and the step's `fast_drive()`."""
        transition, module, _, _, feature_major = operators
        linear = ops.matmul(transition, x) if feature_major else ops.matmul(x, transition)
        phi = self.activation(x)
        return linear + self._module_term(phi, module, feature_major) + drive

    # -- inspection ----------------------------------------------------------

    def module_matrix(self):
        """The effective W = blockdiag(W_1..W_p) as an H x H numpy array."""
        if self.module_weights == "sparse":
            return block_diagonal(ops.convert_to_numpy(self.module_kernel))
        return np.diag(ops.convert_to_numpy(self.module_diagonal()))

    def coupling_matrix(self):
        """The effective coupling L as an H x H numpy array."""
        return self.coupling.coupling_matrix()

    def contraction_metric(self):
        """The diagonal of the metric P (H positive numbers; ones for diagonals)."""
        if self.coupling.metric is None:
            return np.ones(self.units)
        if self.coupling.built:
            return ops.convert_to_numpy(self.coupling.metric_weight).astype(np.float64)
        return self.coupling.metric.copy()

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_modules": self.num_modules,
                "module_size": self.module_size,
                "coupling_blocks": [list(pair) for pair in self.coupling.pairs],
                "module_weights": self.module_weights,
                "density": self.density,
                "dt": self.dt,
                "tau": self.tau,
                "activation": self.activation_name,
                "seed": self.seed,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "module_initializer": keras.initializers.serialize(self.module_initializer),
                "coupling_initializer": keras.initializers.serialize(
                    self.coupling.kernel_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "module_regularizer": keras.regularizers.serialize(self.module_regularizer),
                "coupling_regularizer": keras.regularizers.serialize(
                    self.coupling.kernel_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "coupling_constraint": keras.constraints.serialize(
                    self.coupling.kernel_constraint
                ),
            }
        )
        return config
