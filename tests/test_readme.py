"""The README's Python blocks run as written, on every backend."""

import os
import re

import keras
import numpy as np
import pytest

from keras_rnnofrnns import certify

from conftest import ROOT

BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def readme_blocks():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return BLOCK.findall(f.read())


def readers_data():
    # What a block leaves to the reader ("your data"): tiny arrays, so that
    # the block's fit takes a second.
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.random((128, 8, 1), dtype="float32"),
        "y_train": np.arange(128) % 10,
        "x_test": rng.random((128, 8, 1), dtype="float32"),
    }


def run_block(source):
    namespace = {"__name__": "__readme__", **readers_data()}
    exec(compile(source, "README.md", "exec"), namespace)
    return namespace


def test_readme_has_the_quick_start_and_the_data_parallel_blocks():
    blocks = readme_blocks()
    assert len(blocks) == 2
    assert "AssemblyCell(" in blocks[0] and "data_parallel_scope" in blocks[1]


def test_quick_start_trains_is_certified_and_saves(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = run_block(readme_blocks()[0])
    # Two epochs of two batches each: fit really ran.
    assert int(keras.ops.convert_to_numpy(namespace["model"].optimizer.iterations)) == 4
    assert certify(namespace["cell"]).certified
    assert "CERTIFIED contracting" in capsys.readouterr().out
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = namespace["x"][:4]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)),
        keras.ops.convert_to_numpy(namespace["model"](x)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_data_parallel_block_trains_or_says_the_backend_has_no_data_parallelism(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    source = readme_blocks()[1]
    if keras.backend.backend() == "torch":
        # As the README says: Keras 3 has no data-parallel API for torch.
        with pytest.raises(NotImplementedError, match="torch"):
            run_block(source)
        return
    namespace = run_block(source)
    assert int(keras.ops.convert_to_numpy(namespace["model"].optimizer.iterations)) == 1
