"""AssemblyCell: one step of a stable assembly of RNN modules."""

import sys
import typing

import keras
import numpy as np
from keras import ops

from keras_rnnofrnns.checks import (
    fail,
    check_bool,
    check_choice,
    check_int,
    check_number_pair,
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

try:
    # keras.layers.RNN gives cells that are DropoutRNNCells a per-sequence
    # lifecycle: it calls get_dropout_mask() once before its loop and
    # reset_dropout_mask() after it. Keras does not export the class; without
    # it the cell still computes the same results, rebuilding its operators
    # at every step.
    from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell as _SequenceHooks
except ImportError:  # pragma: no cover - depends on the Keras version

    class _SequenceHooks:
        pass

MODULE_WEIGHTS = ("tanh_diag", "clip_diag", "sparse")
INTEGRATORS = ("euler", "cayley")
GATES = (None, "input", "input_state")
COUPLING_STEPS = ("fixed", "learned")

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
        fail(
            "activation",
            activation,
            "an activation with slope in [0, 1], by name: "
            + ", ".join(CONTRACTING_ACTIVATIONS),
        )
    return name


def _bounded_sigmoid(logits, low, span):
    """`low + span * sigmoid(logits)`: the gated steps and the learned coupling step."""
    return low + span * ops.sigmoid(logits)


def _traced_for_tensorflow_export():
    """Whether JAX is tracing this call for a TensorFlow SavedModel (jax2tf).

    JAX lowers `ops.solve` to a call into its own LAPACK kernels, which
    TensorFlow does not have: a model that JAX exports with it does not run
    in TensorFlow. jax2tf keeps a list while it converts a function, and
    None otherwise; it is looked up, not imported, as only an export loads it.
    """
    if keras.backend.backend() != "jax":
        return False
    jax2tf = sys.modules.get("jax.experimental.jax2tf.jax2tf")
    converting = getattr(jax2tf, "get_thread_local_state_call_tf_concrete_function_list", None)
    return converting is not None and converting() is not None


def _gauss_jordan_solve(a, b):
    """A^-1 B by Gauss-Jordan elimination with partial pivoting, in plain operations.

    A loop of gathers and elementwise updates, which TensorFlow runs too.
    The row swaps keep it as accurate as `ops.solve` for the Cayley factor's
    A = I - S/2 when S is large; without them, a coupling of norm 1000 loses
    three digits.

    Args:
        a: a square, invertible (n, n) tensor.
        b: an (n, m) tensor.

    Returns:
        The (n, m) solution X of A X = B.
    """
    n = a.shape[0]
    index = ops.arange(n)
    rows = ops.expand_dims(index, 1)

    def eliminate(k, augmented):
        # The row of the largest |entry| of column k at or below row k, swapped into row k.
        candidates = ops.where(index >= k, ops.abs(ops.take(augmented, k, axis=1)), -1.0)
        pivot = ops.argmax(candidates)
        order = ops.where(index == k, pivot, ops.where(index == pivot, k, index))
        augmented = ops.take(augmented, order, axis=0)
        row = ops.take(augmented, k, axis=0)
        row = row / ops.take(row, k)
        column = ops.take(augmented, k, axis=1)
        reduced = augmented - ops.expand_dims(column, 1) * ops.expand_dims(row, 0)
        return ops.where(rows == k, ops.expand_dims(row, 0), reduced)

    augmented = ops.fori_loop(0, n, eliminate, ops.concatenate([a, b], axis=1))
    return augmented[:, n:]


class RecurrenceOperators(typing.NamedTuple):
    """Everything one step of an assembly needs that depends on the weights alone.

    Built once per sequence by `AssemblyCell.recurrence_operators()` and
    consumed by `AssemblyCell.fast_step()`. For states of shape (batch, H)
    the matrices act from the right; with `feature_major`, for states of
    shape (H, batch) and inputs of shape (input_dim, batch), from the left.

    Attributes:
        transition: H x H. Euler without a gate: `(1 - h) I + h L^T`; Euler
            with a gate: `L^T - I`; Cayley: `Q^T` (`Q` when feature-major).
        module: the module weights, `h`-scaled without a gate: a diagonal
            (H,) ((H, 1) feature-major) or the (p, N, N) sparse blocks.
        kernel: the input kernel K, `h`-scaled without a gate.
        bias: the bias b likewise, or None.
        keep: `1 - h`, the share of the state a gateless Cayley step keeps.
        gate_kernel, gate_bias, gate_state: the gate's weights, or None.
        gate_low, gate_span: the step is `gate_low + gate_span * sigmoid(.)`.
        integrator: `"euler"` or `"cayley"`.
        feature_major: the layout the operators are for.
    """

    transition: typing.Any
    module: typing.Any
    kernel: typing.Any
    bias: typing.Any
    keep: float
    gate_kernel: typing.Any
    gate_bias: typing.Any
    gate_state: typing.Any
    gate_low: float
    gate_span: float
    integrator: str
    feature_major: bool

    def to_feature_major(self):
        """The same operators for states (H, batch) and inputs (input_dim, batch)."""
        if self.feature_major:
            return self

        def column(vector):
            return None if vector is None else ops.expand_dims(vector, 1)

        def transposed(matrix):
            return None if matrix is None else ops.transpose(matrix)

        # The sparse blocks (p, N, N) act on (p, N, batch) views unchanged.
        diagonal = len(self.module.shape) == 1
        return self._replace(
            transition=ops.transpose(self.transition),
            module=column(self.module) if diagonal else self.module,
            kernel=ops.transpose(self.kernel),
            bias=column(self.bias),
            gate_kernel=transposed(self.gate_kernel),
            gate_bias=column(self.gate_bias),
            gate_state=column(self.gate_state),
            feature_major=True,
        )


class _OperatorSlot:
    """Holds the operators of the sequence in flight, out of Keras's tracking."""

    operators = None


@keras.saving.register_keras_serializable(package="keras_rnnofrnns")
class AssemblyCell(keras.layers.Layer, _SequenceHooks):
    """Cell of a contracting assembly of RNN modules (an "RNN of RNNs").

    The state x of size H = `num_modules * module_size` is p modules of N
    units following `tau dx/dt = -x + W phi(x) + L x + u K + b`, with
    W = blockdiag(W_1, ..., W_p) the module matrices, L a coupling that is
    skew in the modules' contraction metric P (`SkewCoupling`), K and b the
    trainable input kernel and bias. Each module contracts on its own and
    the coupling preserves that, so the continuous-time assembly contracts
    for every value of the trainable parameters. The output at each step is
    the next state. With h = dt / tau, one step is:

    - `integrator="euler"` (the paper's; default): forward Euler,
      `x_{t+1} = x_t + h (-x_t + W phi(x_t) + L x_t + u_t K + b)`. A
      coupling of large norm can make this map expand although the ODE
      contracts: `certify` reports whether it is proven contracting.
    - `integrator="cayley"`: Euler for the modules, Crank-Nicolson for the
      coupling, `x_{t+1} = Q [(1 - h) x_t + h (W phi(x_t) + u_t K + b)]`
      with `Q = (I - (h/2) L)^-1 (I + (h/2) L)`. Q is P-orthogonal because L
      is skew in P, so the computed map contracts for every parameter value
      (needs h <= 1).

    With a `gate`, the step h becomes a learned, bounded step per unit
    (diagonal modules) or per module (sparse modules; per-unit steps would
    break their metric argument), per sample and per time step:
    `Delta_t = low + (high - low) * sigmoid(u_t G + c [+ s * x_t])`, with
    `(low, high) = gate_bounds`. Under Euler, `x_{t+1} = x_t + Delta_t *
    (-x_t + W phi(x_t) + L x_t + u_t K + b)` (the authors' journal model;
    dt is then unused); under Cayley, `x_{t+1} = Q [(1 - Delta_t) x_t +
    Delta_t (W phi(x_t) + u_t K + b)]` with Q at the fixed h. The
    `"input_state"` gate puts the state into the step size (`s * x_t`, per
    unit; for sparse modules `s_i` times the mean of module i): no bound on
    the computed map is claimed for it. With `coupling_step="learned"`
    (Cayley only), Q becomes `Cay(D^1/2 L D^1/2)` with a learned per-unit
    step D inside `gate_bounds`, computed once per sequence; diagonal
    scalings commute with P, so Q stays P-orthogonal.

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

    Use it inside `keras.layers.RNN`. Before its loop over time,
    `keras.layers.RNN` lets the cell prepare for the sequence (the hooks of
    Keras's dropout cells, `get_dropout_mask` / `reset_dropout_mask`): the
    cell then computes what depends on the weights alone once (the coupling,
    the tanh of the diagonal, the Cayley factor: `recurrence_operators()`),
    and each step is `fast_step()`. Called on its own, outside an RNN loop,
    the cell prepares the operators at each call and takes the same step.
    `AssemblyRNN` is the same model with a leaner sequence-level loop.

    Args:
        num_modules: p >= 1, the number of modules.
        module_size: N >= 1, units per module.
        coupling_blocks: int C in [0, p(p-1)/2] (pairs drawn at random with
            `seed`), or an explicit list of (i, j) module pairs.
        module_weights: `"tanh_diag"` (default), `"clip_diag"` or `"sparse"`.
        density: fraction of nonzero entries of the sparse blocks, in (0, 1];
            default 0.03 (the paper also uses 0.3). Only for `"sparse"`.
        dt: step, > 0; default 0.03. With `"cayley"`, dt / tau must be <= 1.
        tau: time constant, > 0; default 1.0.
        activation: phi, one of `CONTRACTING_ACTIVATIONS` (slope in [0, 1]);
            default `"tanh"`.
        integrator: `"euler"` (default) or `"cayley"`.
        gate: None (default, a fixed step h), `"input"` or `"input_state"`.
        gate_bounds: `(low, high)` with 0 < low < high <= 1, the range of
            the gated steps (and of a learned coupling step); default
            (1e-5, 0.2), the authors' journal code.
        coupling_step: `"fixed"` (default: Q at h) or `"learned"` (Cayley
            only: Q at a learned per-unit step, see above).
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
        gate_kernel_initializer, gate_bias_initializer: initializers of G
            (input_dim x n_g) and c (n_g); default uniform in
            +-1/sqrt(input_dim), like PyTorch's `nn.Linear` in the authors'
            code. The gate's `s` starts at zero.
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
    ...                     module_weights="clip_diag", integrator="cayley",
    ...                     gate="input", seed=0)
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
        integrator="euler",
        gate=None,
        gate_bounds=(1e-5, 0.2),
        coupling_step="fixed",
        seed=None,
        use_bias=True,
        kernel_initializer=None,
        bias_initializer="zeros",
        module_initializer=None,
        coupling_initializer=None,
        gate_kernel_initializer=None,
        gate_bias_initializer=None,
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
        self.integrator = check_choice("integrator", integrator, INTEGRATORS)
        self.gate = check_choice("gate", gate, GATES)
        self.gate_bounds = check_number_pair("gate_bounds", gate_bounds, 0.0, 1.0)
        self.coupling_step = check_choice("coupling_step", coupling_step, COUPLING_STEPS)
        if self.integrator == "cayley" and self.dt / self.tau > 1.0:
            fail(
                "dt",
                dt,
                f"dt / tau <= 1 with integrator='cayley' (here tau={self.tau:g}): the "
                "module step (1 - h) x + h W phi(x) is a convex combination, and so "
                "contracting, only for h <= 1",
            )
        if self.coupling_step == "learned" and self.integrator != "cayley":
            fail(
                "coupling_step",
                coupling_step,
                "'fixed' with integrator='euler' (a learned coupling step is a Cayley option)",
            )
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        self.seed = check_seed("seed", seed)
        self.use_bias = check_bool("use_bias", use_bias)
        self.units = self.num_modules * self.module_size
        self.state_size = self.units
        self.output_size = self.units
        # One gated step per unit; per module for sparse modules, whose
        # metric argument holds module by module.
        self.gate_size = self.num_modules if self.module_weights == "sparse" else self.units

        # Each part gets its own seed so that changing one initializer does not
        # change the others' draws.
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.GlorotUniform(seed=self.seed + 1)
        if module_initializer is None:
            module_initializer = keras.initializers.RandomUniform(-1.0, 1.0, seed=self.seed + 2)
        if coupling_initializer is None:
            coupling_initializer = BlockOrthogonal(seed=self.seed + 3)
        if gate_kernel_initializer is None:
            # Uniform in +-1/sqrt(fan_in), PyTorch's nn.Linear default.
            gate_kernel_initializer = keras.initializers.VarianceScaling(
                1.0 / 3.0, "fan_in", "uniform", seed=self.seed + 4
            )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.module_initializer = keras.initializers.get(module_initializer)
        self.gate_kernel_initializer = keras.initializers.get(gate_kernel_initializer)
        # None: uniform in +-1/sqrt(input_dim), known only at build.
        self.gate_bias_initializer = (
            None
            if gate_bias_initializer is None
            else keras.initializers.get(gate_bias_initializer)
        )
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.module_regularizer = keras.regularizers.get(module_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

        # keras.layers.RNN's dropout-cell hooks, with no dropout: the hooks
        # serve only to hoist the weight-only work out of the steps.
        self.dropout = 0.0
        self.recurrent_dropout = 0.0
        self._sequence = _OperatorSlot()
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
        self.gate_kernel = self.gate_bias = self.gate_state = None
        if self.gate is not None:
            self.gate_kernel = self.add_weight(
                shape=(input_dim, self.gate_size),
                initializer=self.gate_kernel_initializer,
                name="gate_kernel",
            )
            limit = 1.0 / float(np.sqrt(input_dim))
            bias_initializer = self.gate_bias_initializer or keras.initializers.RandomUniform(
                -limit, limit, seed=self.seed + 5
            )
            self.gate_bias = self.add_weight(
                shape=(self.gate_size,), initializer=bias_initializer, name="gate_bias"
            )
            if self.gate == "input_state":
                self.gate_state = self.add_weight(
                    shape=(self.gate_size,), initializer="zeros", name="gate_state"
                )
        self.coupling_step_kernel = None
        if self.coupling_step == "learned":
            # Zeros: D starts in the middle of gate_bounds.
            self.coupling_step_kernel = self.add_weight(
                shape=(self.units,), initializer="zeros", name="coupling_step"
            )
        self.coupling.build((None, self.units))
        self.built = True

    # -- the effective parameters, computed once per sequence ---------------

    @property
    def step_size(self):
        """dt / tau, the fixed step in units of the time constant."""
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

    def _module_term(self, phi, module, feature_major):
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

    def coupling_step_values(self, dtype=None):
        """The per-unit steps D of a learned coupling step (H,), or None if fixed."""
        if self.coupling_step_kernel is None:
            return None
        low, high = self.gate_bounds
        raw = ops.cast(self.coupling_step_kernel, dtype or self.compute_dtype)
        return _bounded_sigmoid(raw, low, high - low)

    def cayley_operator(self, dtype=None):
        """Q = Cay(S) = (I - S/2)^-1 (I + S/2) as an H x H tensor; `x_{t+1} = Q y`.

        S = h L with a fixed coupling step, D^1/2 L D^1/2 with a learned one.
        One differentiable H x H solve (an elimination in plain operations
        while JAX exports the model to TensorFlow, which cannot run JAX's
        LAPACK call).
        """
        dtype = keras.backend.standardize_dtype(dtype or self.compute_dtype)
        # Half-precision solves are missing on some backends and too coarse
        # for an orthogonal factor: solve in float32 at least.
        solve_dtype = "float32" if dtype in ("float16", "bfloat16") else dtype
        coupling = self.coupling.coupling_operator(solve_dtype)
        steps = self.coupling_step_values(solve_dtype)
        if steps is None:
            half = 0.5 * ops.cast(self.step_size, solve_dtype) * coupling
        else:
            root = ops.sqrt(steps)
            half = 0.5 * coupling * ops.expand_dims(root, 1) * ops.expand_dims(root, 0)
        eye = ops.eye(self.units, dtype=solve_dtype)
        solve = _gauss_jordan_solve if _traced_for_tensorflow_export() else ops.solve
        return ops.cast(solve(eye - half, eye + half), dtype)

    def _state_summary(self, states, feature_major):
        """What the state gate sees: the unit (diagonal) or the module mean (sparse)."""
        if self.module_weights != "sparse":
            return states
        if feature_major:
            return ops.mean(ops.reshape(states, (self.num_modules, self.module_size, -1)), 1)
        return ops.mean(ops.reshape(states, (-1, self.num_modules, self.module_size)), -1)

    def _expand_gate(self, delta, feature_major):
        if self.gate_size == self.units:
            return delta
        return ops.repeat(delta, self.module_size, axis=0 if feature_major else -1)

    # -- the per-sequence lifecycle keras.layers.RNN drives -----------------

    def get_dropout_mask(self, step_input):
        """Prepares the cell for one sequence; `keras.layers.RNN` calls it first.

        Computes `recurrence_operators()` once, so that every step of the
        sequence reuses them. Keras's RNN layer calls this hook of its
        dropout cells before its loop and `reset_dropout_mask()` after it;
        this cell has no dropout, so there is no mask to return.

        Args:
            step_input: the first step's inputs (unused but for the hook's
                signature).

        Returns:
            None.
        """
        self._sequence.operators = self.recurrence_operators(self.compute_dtype)
        return None

    def reset_dropout_mask(self):
        """Ends the sequence: the next call recomputes the weight-only work."""
        self._sequence.operators = None

    def call(self, inputs, states, training=False):
        self._check_inputs(inputs)
        x = states[0] if isinstance(states, (list, tuple)) else states
        # Inside an RNN loop, the operators prepared for the sequence;
        # called on its own, the cell prepares them for this one step.
        x_next = self.fast_step(self.sequence_operators(), x, ops.cast(inputs, x.dtype))
        return x_next, [x_next]

    # -- the operators, prepared once per sequence, and the one step --------

    def recurrence_operators(self, dtype=None, feature_major=False):
        """Everything the step needs that depends on the weights alone.

        Compute it once per sequence, not once per step; one step is then
        `fast_step(operators, x, u_t)`. See `RecurrenceOperators` for what
        each field holds.

        Args:
            dtype: the compute dtype (default the layer's).
            feature_major: operators for states of shape (H, batch) and
                inputs of shape (input_dim, batch) instead of (batch, H) and
                (batch, input_dim).

        Returns:
            A `RecurrenceOperators`.
        """
        dtype = dtype or self.compute_dtype
        h = self.step_size
        gated = self.gate is not None
        # Without a gate the step h is folded into the weights once.
        scale = 1.0 if gated else h
        if self.integrator == "cayley":
            transition = ops.transpose(self.cayley_operator(dtype))
        else:
            coupling = ops.transpose(self.coupling.coupling_operator(dtype))
            eye = ops.eye(self.units, dtype=dtype)
            if gated:
                transition = coupling - eye
            else:
                transition = (1.0 - h) * eye + ops.cast(h, dtype) * coupling
        low, high = self.gate_bounds
        operators = RecurrenceOperators(
            transition=transition,
            module=scale * self._module_parameter(dtype),
            kernel=scale * ops.cast(self.input_kernel, dtype),
            bias=None if self.bias is None else scale * ops.cast(self.bias, dtype),
            keep=1.0 - h,
            gate_kernel=self._cast_weight(self.gate_kernel, dtype),
            gate_bias=self._cast_weight(self.gate_bias, dtype),
            gate_state=self._cast_weight(self.gate_state, dtype),
            gate_low=low,
            gate_span=high - low,
            integrator=self.integrator,
            feature_major=False,
        )
        return operators.to_feature_major() if feature_major else operators

    def sequence_operators(self):
        """The operators prepared for the sequence in flight, else new ones.

        Inside `keras.layers.RNN` (see `get_dropout_mask`) these are the
        operators computed before the loop; otherwise
        `recurrence_operators()`. Batch-major, in the compute dtype.
        """
        if self._sequence.operators is not None:
            return self._sequence.operators
        return self.recurrence_operators(self.compute_dtype)

    @staticmethod
    def _cast_weight(weight, dtype):
        return None if weight is None else ops.cast(weight, dtype)

    def fast_step(self, operators, x, inputs):
        """One step of the assembly, x_{t+1} from x_t and u_t, with prepared operators.

        The cell's only step: `call` runs it, and so do the loops of
        `AssemblyRNN`.

        Args:
            operators: a `RecurrenceOperators` from `recurrence_operators()`.
            x: the states x_t, (batch, H) or, for feature-major operators,
                (H, batch).
            inputs: the inputs u_t, (batch, input_dim) or (input_dim, batch)
                likewise, in the dtype of `x`.

        Returns:
            x_{t+1}, in the layout of `x`.

        Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> cell = AssemblyCell(num_modules=2, module_size=3, coupling_blocks=1,
        ...                     gate="input", seed=0)
        >>> cell.build((None, 1))
        >>> x, u = ops.zeros((4, 6)), ops.ones((4, 1))
        >>> step = cell.fast_step(cell.recurrence_operators(), x, u)
        >>> np.allclose(ops.convert_to_numpy(step), ops.convert_to_numpy(cell(u, [x])[0]))
        True
        """
        feature_major = operators.feature_major

        def project(matrix, vectors):
            return ops.matmul(matrix, vectors) if feature_major else ops.matmul(vectors, matrix)

        drive = project(operators.kernel, inputs)
        # `+`, not ops.add: Keras 3.15's TensorFlow ops.add adds an (n, 1)
        # operand of an (n, n) tensor along the last axis, as a bias.
        if operators.bias is not None:
            drive = drive + operators.bias
        forcing = self._module_term(self.activation(x), operators.module, feature_major) + drive
        if operators.gate_kernel is None:
            if operators.integrator == "euler":
                return project(operators.transition, x) + forcing
            return project(operators.transition, operators.keep * x + forcing)
        logits = project(operators.gate_kernel, inputs) + operators.gate_bias
        if operators.gate_state is not None:
            logits = logits + operators.gate_state * self._state_summary(x, feature_major)
        delta = _bounded_sigmoid(logits, operators.gate_low, operators.gate_span)
        delta = self._expand_gate(delta, feature_major)
        if operators.integrator == "euler":
            return x + delta * (project(operators.transition, x) + forcing)
        return project(operators.transition, x + delta * (forcing - x))

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
                "integrator": self.integrator,
                "gate": self.gate,
                "gate_bounds": list(self.gate_bounds),
                "coupling_step": self.coupling_step,
                "seed": self.seed,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "module_initializer": keras.initializers.serialize(self.module_initializer),
                "coupling_initializer": keras.initializers.serialize(
                    self.coupling.kernel_initializer
                ),
                "gate_kernel_initializer": keras.initializers.serialize(
                    self.gate_kernel_initializer
                ),
                "gate_bias_initializer": (
                    None
                    if self.gate_bias_initializer is None
                    else keras.initializers.serialize(self.gate_bias_initializer)
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

