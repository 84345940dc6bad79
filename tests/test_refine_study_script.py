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
