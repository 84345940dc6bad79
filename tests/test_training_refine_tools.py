"""param_groups / build_optimizer (refine's lr_scale) and RefineMonitor."""
import math

import pytest
import torch

import regr_edu as rg
from regr_edu.training import RefineMonitor, build_optimizer, param_groups


def _net(**kw):
    return rg.models.small_resnet(2, unit="regr", widths=[8, 16, 16],
                                  scales=((2, 2),), **kw)


def test_param_groups_put_eta_at_its_scale_and_everything_once():
    net = _net(refine_lr_scale=0.1)
    groups = param_groups(net, lr=0.5, weight_decay=1e-4)
    assert [g["lr"] for g in groups] == [0.5, pytest.approx(0.05)]
    eta = {id(p) for m in net.modules() if isinstance(m, rg.refine.Refine)
           for p in m.eta_parameters()}
    assert {id(p) for p in groups[1]["params"]} == eta
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))


def test_param_groups_with_scale_one_is_one_group():
    groups = param_groups(_net(), lr=0.1)
    assert len(groups) == 1


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_build_optimizer_steps_eta_at_a_tenth(name):
    torch.manual_seed(0)
    a, b = _net(refine_lr_scale=0.1), _net(refine_lr_scale=1.0)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 3, 32, 32)
    moves = []
    for net in (a, b):
        opt = build_optimizer(name, net, lr=0.01)
        eta = next(m for m in net.modules() if isinstance(m, rg.refine.Refine)).eta
        # make the unit's last BN non-zero so the refine branch gets a gradient
        unit = next(m for m in net.modules() if isinstance(m, rg.ReGr))
        with torch.no_grad():
            unit.bn.weight.fill_(1.0)
        before = eta.bias.detach().clone()
        net(x).logsumexp(1).sum().backward()
        opt.step()
        moves.append((eta.bias.detach() - before).abs().max())
    assert moves[1] > 0
    torch.testing.assert_close(moves[0], 0.1 * moves[1], rtol=1e-4, atol=1e-9)


def test_build_optimizer_rejects_unknown_name():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        build_optimizer("lbfgs", _net(), lr=0.1)


def test_monitor_records_offsets_amplitudes_and_gradients():
    torch.manual_seed(0)
    net = _net()
    unit = next(m for m in net.modules() if isinstance(m, rg.ReGr))
    with torch.no_grad():
        unit.bn.weight.fill_(1.0)
        unit.refine.eta.weight.normal_(0, 1.0)
    monitor = RefineMonitor(net)
    opt = build_optimizer("sgd", net, lr=0.01)
    for step in (1, 2):
        opt.zero_grad()
        net(torch.randn(4, 3, 32, 32)).logsumexp(1).sum().backward()
        opt.step()
        monitor({"step": step, "epoch": 0, "loss": 1.0})
    assert [r["step"] for r in monitor.rows] == [1, 2]
    row = monitor.rows[1]
    assert 0 < row["delta_abs_mean"] <= row["delta_abs_max"] < 1
    assert 0 < row["m_min"] <= row["m_mean"] <= row["m_max"] < 1
    assert row["grad_eta"] > 0 and row["grad_mu"] > 0 and row["grad_nu"] > 0
    assert row["norm_in"] > 0 and row["norm_out"] > 0
    assert 0 <= row["delta_sign_flip"] <= 1 and math.isnan(monitor.rows[0]["delta_sign_flip"])
    # the last BatchNorm's mean |weight|: 1 as set above, moved by the two SGD steps
    assert row["bn_weight"] == pytest.approx(float(unit.bn.weight.detach().abs().mean()))
    assert row["bn_weight"] != monitor.rows[0]["bn_weight"]
    net.eval()
    net(torch.randn(2, 3, 32, 32))                      # eval forwards are not recorded
    monitor({"step": 3})
    assert "delta_abs_mean" not in monitor.rows[2]


def test_monitor_attaches_from_the_payload_and_writes_jsonl(tmp_path):
    net = _net()
    monitor = RefineMonitor()
    monitor({"step": 1, "model": net})                 # attaches; this step is not recorded
    net(torch.randn(2, 3, 32, 32))
    monitor({"step": 2, "model": net})
    assert [r["step"] for r in monitor.rows] == [2]
    path = monitor.write_jsonl(tmp_path / "m.jsonl")
    assert path.read_text().count("\n") == 1
    with pytest.raises(ValueError, match="every"):
        RefineMonitor(net, every=0)


def test_monitor_reads_the_last_batchnorm_of_units_without_refine():
    """A unit without refine has no offsets to record, but its last BatchNorm weight (zero at the
    start: the paper's) is still watched; a network without a unit gives the loss only."""
    net = rg.models.small_resnet(2, unit="regr", widths=(8, 16, 32), input_size=(32, 32),
                                 refine=False)
    monitor = RefineMonitor(net)
    monitor({"step": 1, "epoch": 0, "loss": 0.5})
    assert monitor.rows == [{"step": 1, "epoch": 0, "loss": 0.5, "bn_weight": 0.0}]
    plain = RefineMonitor(rg.models.small_resnet(2, widths=(8, 16, 32)))
    plain({"step": 1, "epoch": 0, "loss": 0.5})
    assert plain.rows == [{"step": 1, "epoch": 0, "loss": 0.5}]


def test_cli_accepts_adam():
    from regr_edu.train import parse_config
    assert parse_config(["--optimizer", "adam", "--lr", "0.001"]).optimizer == "adam"
    with pytest.raises(SystemExit):
        parse_config(["--optimizer", "rmsprop"])
