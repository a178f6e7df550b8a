"""tools/reproduce/plan.py: the training order and the run states it reads."""

import pytest

from tools.experiments import run_state
from tools.reproduce import plan


def test_order_is_the_issues(tmp_path):
    order = plan.reproduction_order()
    names = [c.name for c in order]
    assert len(set(names)) == len(order) == 2 * 2 * 4 * 3
    methods = ["scn-3", "scn-30", "adadiag-tanh", "adadiag-clip"]
    assert names[:4] == [f"psmnist_{m}_C20_seed0" for m in methods]
    assert names[4:8] == [f"psmnist_{m}_C5_seed0" for m in methods]
    assert [c.task for c in order[8:16]] == ["smnist"] * 8
    assert [c.coupling_blocks for c in order[8:16]] == [20] * 4 + [5] * 4
    assert {c.seed for c in order[:16]} == {0} and {c.seed for c in order[16:]} == {1, 2}
    assert names[16:18] == ["psmnist_scn-3_C20_seed1", "psmnist_scn-3_C20_seed2"]
    assert all(run_state(str(tmp_path), c) == (None, "not run") for c in order)
    with pytest.raises(ValueError, match="task='mnist'"):
        plan.reproduction_order(tasks=("mnist",))


def test_order_refuses_unknown_methods_and_no_seed(tmp_path):
    with pytest.raises(ValueError, match="method='lstm-9'"):
        plan.reproduction_order(methods=("scn-3", "lstm-9"))
    with pytest.raises(ValueError, match=r"seeds=\(\)"):
        plan.reproduction_order(seeds=())
    assert plan.count_states(str(tmp_path), plan.reproduction_order()) == {
        "finished": 0, "in progress": 0, "not run": 48, "model damaged": 0,
    }  # fmt: skip


def test_one_run_protocol_keeps_smnist_unpermuted():
    config = plan.reproduction_order(tasks=("smnist",), seeds=(3,))[0]
    protocol = plan.run_protocol_of(config, {"lr_drops": [2, 4], "permutation_seed": 7})
    assert (protocol.methods, protocol.coupling_blocks, protocol.seeds) == (("scn-3",), (20,), (3,))
    assert protocol.lr_drops == (2, 4) and protocol.permutation_seed == 0


@pytest.mark.parametrize(
    "grid, named",
    [(dict(seeds=(0, 0)), "seeds"), (dict(methods=("scn-3", "scn-3")), "methods"),
     (dict(coupling_blocks=(5, 5)), "coupling_blocks"), (dict(tasks=("smnist",) * 2), "tasks")],
)  # fmt: skip
def test_order_refuses_a_run_twice(grid, named):
    with pytest.raises(ValueError, match=rf"Invalid .*{named}=.*once"):
        plan.reproduction_order(**grid)
