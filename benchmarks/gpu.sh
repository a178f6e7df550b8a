#!/bin/bash
# The GPU figures of docs/benchmarks.md: JAX and PyTorch at the psMNIST shape
# (784 steps, 16 x 32 units, C = 20, batches 128 and 1024) on one GPU.
#
# On a machine with a CUDA build of JAX and of PyTorch, from the project root:
#     bash benchmarks/gpu.sh [OUTPUT_FOLDER]        (default runs/benchmarks)
# It writes gpu-<backend>.json and .log there. About 6 minutes on an H100;
# each backend has its own time limit, so one that hangs cannot take the
# other's figures with it.
set -u
out=${1:-runs/benchmarks}
mkdir -p "$out"

# The generic per-step RNN(AssemblyCell) is left out: at 784 steps it only
# repeats the CPU result (it is the slow path) and costs minutes.
common=(--steps 784 --batch 128 1024 --skip generic --variants cayley+input euler+input_state)
status=0
KERAS_BACKEND=jax timeout 330 python3 benchmarks/train_step.py "${common[@]}" \
    --scan-unroll 1 8 --reference-unroll 1 8 --json "$out/gpu-jax.json" >"$out/gpu-jax.log" 2>&1 || status=1
tail -n 30 "$out/gpu-jax.log"
KERAS_BACKEND=torch timeout 240 python3 benchmarks/train_step.py "${common[@]}" \
    --rounds 2 --repeats 2 --json "$out/gpu-torch.json" >"$out/gpu-torch.log" 2>&1 || status=1
tail -n 20 "$out/gpu-torch.log"
exit $status
