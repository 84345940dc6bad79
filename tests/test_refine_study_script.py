"""benchmarks/refine_study.py's bookkeeping (not its runs): the arms' BatchNorm start, each arm
against its own baseline in the report, and pilot 3's reading as written before its runs."""
import pathlib
import sys

import torch

import regr_edu as rg

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import refine_study  # noqa: E402  (benchmarks/, put on the path above)


def _record(cells):
    """``cells``: ``{(task, opt, arm): [final top-1 of seeds 0, 1, ...]}``."""
    runs = [{"task": t, "opt": o, "arm": a, "seed": s, "final_test_acc1": v}
            for (t, o, a), values in cells.items() for s, v in enumerate(values)]
    return {"runs": runs}


def test_set_bn_init_starts_every_unit_at_the_weight():
    net = rg.models.small_resnet(2, unit="regr", widths=(8, 16, 32), input_size=(32, 32))
    unit = next(m for m in net.modules() if isinstance(m, rg.ReGr))
    assert float(unit.bn.weight.detach().abs().max()) == 0.0     # the paper's start
    refine_study.set_bn_init(net, 1.0)
    torch.testing.assert_close(unit.bn.weight, torch.ones_like(unit.bn.weight))
    assert float(unit.bn.bias.detach().abs().max()) == 0.0


def test_report_compares_add_bn1_with_off_bn1_and_reads_pilot_3():
    up, down = [99.0] * 8, [50.0] * 8
    record = _record({("image", "sgd", "off"): down[:6] + up[:2],
                      ("image", "sgd", "off_bn1"): down[:3] + up[:5],
                      ("image", "sgd", "add_bn1"): down[:1] + up[:7],
                      ("image", "adam3", "off"): down[:2] + up[:6],
                      ("image", "adam3", "off_bn1"): down[:1] + up[:7],
                      ("image", "adam3", "add_bn1"): down[:1] + up[:7]})
    text = refine_study.report(record)
    assert "| image | sgd | 5/8 | 80.6 | 7/8 | 92.9 |" in text      # add_bn1 against off_bn1
    assert "Pooled over these cells: off_bn1 12/16, add_bn1 14/16" in text
    assert "The initialisation does not explain the stuck seeds" in text  # 5/8 is not 7/8
    record = _record({("image", "sgd", "off"): down[:6] + up[:2],
                      ("image", "adam3", "off"): down[:2] + up[:6],
                      ("image", "sgd", "off_bn1"): down[:1] + up[:7],
                      ("image", "adam3", "off_bn1"): down[:2] + up[:6]})
    assert "The initialisation explains the stuck seeds" in refine_study.report(record)


def _step(net, x, y, opt):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def test_hold_eta_keeps_eta_at_zero_until_the_loss_leaves_the_plateau():
    torch.manual_seed(0)
    net = rg.models.small_resnet(2, unit="regr", widths=(8, 16, 32), input_size=(32, 32))
    refine_study.set_bn_init(net, 1.0)          # so that eta's gradient is not zero at the start
    eta = [p for m in net.modules() if isinstance(m, rg.refine.Refine) for p in m.eta.parameters()]
    start = [p.detach().clone() for p in eta]
    hold = refine_study.HoldEta(net, level=0.5, start=0.7, decay=0.5)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.randn(8, 3, 32, 32), torch.arange(8) % 2
    grads = []
    for step in (1, 2):                         # the running mean stays above 0.5: held
        hold({"step": step, "loss": 0.7})
        _step(net, x, y, opt)
        grads.append(sum(float(p.grad.abs().sum()) for p in eta))
    assert hold.released_at is None and grads == [0.0, 0.0]
    for p, p0 in zip(eta, start):
        torch.testing.assert_close(p, p0, rtol=0, atol=0)
    hold({"step": 3, "loss": 0.0})              # mean 0.35 < 0.5: released from now on
    assert hold.released_at == 3
    _step(net, x, y, opt)
    assert sum(float(p.grad.abs().sum()) for p in eta) > 0
    assert any(not torch.equal(p, p0) for p, p0 in zip(eta, start))
    hold({"step": 4, "loss": 5.0})              # the loss rising again does not hold it again
    assert hold.released_at == 3


def test_a_held_blending_refine_trains_as_refine_off_bit_for_bit(tmp_path, monkeypatch):
    """blend_hold_ref starts from off_ref's weights (building refine draws random numbers) and,
    while eta is held, computes exactly what off_ref computes: the same losses, the same
    accuracies, the same random state afterwards."""
    tiny = {"dataset": "synthetic-image", "image_size": 64, "train_samples": 288,
            "test_samples": 32, "epochs": 1, "batch_size": 32, "chance": 50.0}
    monkeypatch.setitem(refine_study.TASKS, "tiny", tiny)
    monkeypatch.setattr(refine_study, "RUNS", tmp_path)
    runs = {arm: refine_study.train(arm, "tiny", "adam3", 3) for arm in
            ("off_ref", "blend_hold_ref", "blend_ref")}
    held, off = runs["blend_hold_ref"], runs["off_ref"]
    assert held["released_at_step"] is None                    # held for the whole (tiny) run
    losses = {arm: [r["loss"] for r in run["monitor"]] for arm, run in runs.items()}
    assert losses["blend_hold_ref"] == losses["off_ref"] and len(losses["off_ref"]) >= 2
    assert held["history"] == off["history"]
    assert losses["blend_ref"] != losses["off_ref"]            # its eta moves, and it starts
    #                                                            from other draws
