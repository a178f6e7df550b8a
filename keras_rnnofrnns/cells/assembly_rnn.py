"""AssemblyRNN: the assembly as a full recurrent layer with a fast sequence loop."""

import keras
from keras import ops

from keras_rnnofrnns.checks import check_int
from keras_rnnofrnns.cells.assembly_cell import AssemblyCell


def _cell_property(path):
    """A read-only property giving `self.cell.<path>` (a dotted attribute path)."""

    def get(self):
        value = self.cell
        for part in path.split("."):
            value = getattr(value, part)
        return value

    return property(get, doc=f"The cell's `{path}`.")


@keras.saving.register_keras_serializable(package="keras_rnnofrnns")
class AssemblyRNN(keras.layers.RNN):
    """An assembly of RNN modules over whole sequences: `RNN(AssemblyCell)`, faster.

    Same model, arguments and results as
    `keras.layers.RNN(AssemblyCell(...))` (the tests hold them equal, outputs
    and gradients), with a loop that does per step only what the recurrence
    needs. Both compute once per call what depends on the weights alone (see
    `RecurrenceOperators`): the H x H transition (`(1 - h) I + h L^T` for
    Euler, the Cayley factor `Q^T` with `integrator="cayley"`: one H x H
    solve per call), the scaled module weights and the scaled input kernel
    and bias; a step is then one H x H matmul, the input term, the gate's
    input projection if there is a gate, the activation and the module term
    (an elementwise product for diagonal modules, p small N x N products for
    sparse ones, never a dense H x H one). This layer also spares the
    per-step `Layer.__call__` of the cell and chooses the state layout that
    is fastest on each backend.

    The input term stays inside the step: precomputing it for all steps
    would write and read a (time, batch, H) tensor forward and backward,
    which costs more than the projection itself. On JAX the loop is
    `keras.ops.scan` (`lax.scan`, `scan_unroll` steps per iteration); on
    TensorFlow, a while loop over the state (`keras.ops.fori_loop`), or
    `keras.ops.scan` when every step's output is returned; on PyTorch, whose scan is a Python loop that slices its
    input at every step (and makes autograd write a full-size zero gradient
    per slice), the inputs are unbound once and the loop runs over the
    pieces. On PyTorch and TensorFlow the states are kept feature-major,
    (H, batch), which makes the sparse block product a batched matmul of
    views; XLA chooses its own layouts and JAX keeps (batch, H).

    On TensorFlow the layer cannot be compiled with XLA (`keras.ops.scan`'s
    while loop there has no maximum number of iterations): it sets
    `supports_jit = False`, so `compile(jit_compile="auto")` leaves XLA off,
    and `compile(jit_compile=True)` warns ("Model doesn't support
    `jit_compile=True`. Proceeding with `jit_compile=False`.") and trains
    without XLA, with the model's `jit_compile` set to False.

    Args:
        num_modules, module_size, coupling_blocks, module_weights, density,
        dt, tau, activation, integrator, gate, gate_bounds, coupling_step,
        seed, use_bias, and the initializer, regularizer and constraint
        arguments: as for `AssemblyCell`.
        return_sequences, return_state, go_backwards, stateful, unroll,
        zero_output_for_mask: as for `keras.layers.RNN`.
        scan_unroll: int >= 1, time steps per loop iteration of JAX's
            `lax.scan` (on TensorFlow, the scan's parallel iterations, used
            with `return_sequences=True`); default 1. It changes no result.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        sequences: tensor of shape (batch, time, features).
        initial_state: optional list with one (batch, H) tensor.
        mask: optional boolean tensor of shape (batch, time).
        training: unused.

    Example:
    >>> import numpy as np, keras
    >>> model = keras.Sequential([
    ...     keras.Input((28, 1)),
    ...     AssemblyRNN(num_modules=4, module_size=8, coupling_blocks=2, seed=0),
    ...     keras.layers.Dense(10),
    ... ])
    >>> tuple(model(np.zeros((3, 28, 1), dtype="float32")).shape)
    (3, 10)
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
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        scan_unroll=1,
        **kwargs,
    ):
        cell = AssemblyCell(
            num_modules,
            module_size,
            coupling_blocks,
            module_weights=module_weights,
            density=density,
            dt=dt,
            tau=tau,
            activation=activation,
            integrator=integrator,
            gate=gate,
            gate_bounds=gate_bounds,
            coupling_step=coupling_step,
            seed=seed,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            module_initializer=module_initializer,
            coupling_initializer=coupling_initializer,
            gate_kernel_initializer=gate_kernel_initializer,
            gate_bias_initializer=gate_bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            module_regularizer=module_regularizer,
            coupling_regularizer=coupling_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            coupling_constraint=coupling_constraint,
            # The cell's weights follow the layer's dtype policy and
            # trainability, as in keras.layers.SimpleRNN.
            dtype=kwargs.get("dtype", None),
            trainable=kwargs.get("trainable", True),
            name="assembly_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            **kwargs,
        )
        # Checked by Layer.__call__ before build, so a sequence of the wrong
        # rank fails with Keras's own message naming this layer.
        self.input_spec = keras.layers.InputSpec(ndim=3)
        self.scan_unroll = check_int("scan_unroll", scan_unroll, 1)
        # keras.ops.scan's TensorFlow while loop sets no maximum number of
        # iterations, which XLA needs: tell compile(jit_compile="auto"), which
        # turns XLA on for TensorFlow on GPU machines, to leave it off.
        self.supports_jit = keras.backend.backend() != "tensorflow"

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        dtype = initial_state[0].dtype
        # Feature-major states (H, batch) make the sparse modules' block
        # product a batched matmul over views, with no copies, and the whole
        # step faster on PyTorch and TensorFlow; XLA picks its own layouts and
        # runs the diagonal step faster batch-major.
        feature_major = keras.backend.backend() != "jax"
        # keras.layers.RNN.call has just prepared the cell for this sequence:
        # reuse its operators rather than compute them twice.
        operators = cell.sequence_operators()
        if feature_major:
            operators = operators.to_feature_major()
        # Time-major, so each step reads a contiguous slice. The inputs have
        # far fewer features than the state, so this transpose is cheap.
        time_major = (1, 2, 0) if feature_major else (1, 0, 2)
        inputs = ops.transpose(ops.cast(sequences, dtype), time_major)
        x0 = initial_state[0]
        if self.stateful:
            # A stateful layer's initial state is its state variable, which
            # keras.layers.RNN.call overwrites in place after the loop; on
            # PyTorch the first step's gradient still needs the old value
            # (a transpose is a view of it), so the loop starts from a copy.
            x0 = ops.copy(x0)
        x0 = ops.transpose(x0) if feature_major else x0
        if mask is not None:
            mask = ops.transpose(ops.cast(mask, "bool"))
            mask = ops.expand_dims(mask, 1 if feature_major else 2)
        if self.go_backwards:
            inputs = ops.flip(inputs, axis=0)
            mask = None if mask is None else ops.flip(mask, axis=0)

        # `u_t K + b` is computed inside the step: projecting all steps up
        # front writes and reads a (time, batch, H) tensor forward and
        # backward, which costs more than the projection on the CPU.
        backend = keras.backend.backend()
        if backend == "torch" or self.unroll:
            last, states = self._python_loop(operators, x0, inputs, mask)
        elif backend == "tensorflow" and not self.return_sequences:
            last, states = self._state_loop(operators, x0, inputs, mask), None
        else:
            last, states = self._scan_loop(operators, x0, inputs, mask)

        # The output is the state; at a masked step both keep their previous
        # value, or the output is zero with zero_output_for_mask.
        if mask is not None and self.zero_output_for_mask:
            last_output = ops.where(mask[-1], last, ops.zeros_like(last))
        else:
            last_output = last
        last = ops.transpose(last) if feature_major else last
        last_output = ops.transpose(last_output) if feature_major else last_output
        if not self.return_sequences:
            return last_output, last_output, [last]
        outputs = states
        if mask is not None and self.zero_output_for_mask:
            outputs = ops.where(mask, outputs, ops.zeros_like(outputs))
        outputs = ops.transpose(outputs, (2, 0, 1) if feature_major else (1, 0, 2))
        return outputs[:, -1], outputs, [last]

    def _step(self, operators, x, u_t, mask_t):
        x_next = self.cell.fast_step(operators, x, u_t)
        return x_next if mask_t is None else ops.where(mask_t, x_next, x)

    def _python_loop(self, operators, x, inputs, mask):
        # Unbound once: slicing inputs[t] inside the loop would make PyTorch's
        # autograd write a full-size zero gradient at every step.
        inputs = ops.unstack(inputs, axis=0)
        masks = [None] * len(inputs) if mask is None else ops.unstack(mask, axis=0)
        states = []
        for u_t, mask_t in zip(inputs, masks):
            x = self._step(operators, x, u_t, mask_t)
            if self.return_sequences:
                states.append(x)
        return x, ops.stack(states, axis=0) if self.return_sequences else None

    def _state_loop(self, operators, x0, inputs, mask):
        # Keras's TensorFlow scan keeps its carry in a TensorArray and writes
        # an output at every step; a while loop over the state alone trains
        # 15-20 % faster. `take` (a gather), not a slice: its gradient is
        # sparse, where a slice's would write a zero tensor of the whole
        # sequence at every step when the inputs need a gradient.
        def body(t, x):
            u_t = ops.take(inputs, t, axis=0)
            mask_t = None if mask is None else ops.take(mask, t, axis=0)
            return self._step(operators, x, u_t, mask_t)

        return ops.fori_loop(0, ops.shape(inputs)[0], body, x0)

    def _scan_loop(self, operators, x0, inputs, mask):
        # TensorFlow's scan must emit a carry-shaped output at every step
        # (without one, keras.ops.scan gives no gradient); JAX's can emit
        # nothing, which spares a (time, batch, H) stack.
        emit = self.return_sequences or keras.backend.backend() == "tensorflow"

        def body(x, xs):
            u_t, mask_t = xs if mask is not None else (xs, None)
            x = self._step(operators, x, u_t, mask_t)
            return x, (x if emit else None)

        xs = inputs if mask is None else (inputs, mask)
        return ops.scan(body, x0, xs, unroll=self.scan_unroll)

    # The cell's hyperparameters, read-only, as keras.layers.SimpleRNN
    # exposes its cell's.

    # The cell's settings, read through the layer as Keras's RNN layers do.
    num_modules = _cell_property("num_modules")
    module_size = _cell_property("module_size")
    units = _cell_property("units")
    coupling_pairs = _cell_property("coupling_pairs")
    module_weights = _cell_property("module_weights")
    density = _cell_property("density")
    dt = _cell_property("dt")
    tau = _cell_property("tau")
    step_size = _cell_property("step_size")
    activation = _cell_property("activation")
    integrator = _cell_property("integrator")
    gate = _cell_property("gate")
    gate_bounds = _cell_property("gate_bounds")
    coupling_step = _cell_property("coupling_step")
    seed = _cell_property("seed")
    use_bias = _cell_property("use_bias")
    kernel_initializer = _cell_property("kernel_initializer")
    bias_initializer = _cell_property("bias_initializer")
    module_initializer = _cell_property("module_initializer")
    coupling_initializer = _cell_property("coupling.kernel_initializer")
    gate_kernel_initializer = _cell_property("gate_kernel_initializer")
    gate_bias_initializer = _cell_property("gate_bias_initializer")
    kernel_regularizer = _cell_property("kernel_regularizer")
    bias_regularizer = _cell_property("bias_regularizer")
    module_regularizer = _cell_property("module_regularizer")
    coupling_regularizer = _cell_property("coupling.kernel_regularizer")
    kernel_constraint = _cell_property("kernel_constraint")
    bias_constraint = _cell_property("bias_constraint")
    coupling_constraint = _cell_property("coupling.kernel_constraint")

    def get_config(self):
        config = {
            key: value
            for key, value in self.cell.get_config().items()
            if key not in ("name", "trainable", "dtype")
        }
        base = super().get_config()
        del base["cell"]
        config.update(base)
        config["scan_unroll"] = self.scan_unroll
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
