"""regr_edu.experiments: every setting builds and runs, costs, one run (and its replay), the
measures, and the claims' verdicts on hand-made records."""
import itertools
import json
import math

import pytest
import torch

from regr_edu import experiments as ex

TINY = {**ex.TRAIN, "train_samples": 128, "test_samples": 64, "epochs": 2, "batch_size": 32}


# ------------------------------------------------------------------------------ models
@pytest.mark.parametrize("name", list(ex.SETTINGS))
def test_every_setting_builds_and_runs_a_forward(name):
    torch.manual_seed(0)
    model = ex.build_model(name).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, ex.TRAIN["image_size"], ex.TRAIN["image_size"]))
    assert out.shape == (2, 2) and torch.isfinite(out).all()
    s = ex.SETTINGS[name]
    assert bool(len(model.units)) == (s["unit"] is not None)
    if s["unit"] == "regr":
        scales = s["unit_kwargs"]["scales"]
        assert all(u.scales == tuple(map(tuple, scales)) for u in model.units.values())
    if "placement" in s:
        assert len(model.units) == sum(map(len, s["placement"].values()))


def test_build_model_is_seeded_by_the_global_generator():
    torch.manual_seed(3)
    a = ex.build_model("regr").state_dict()
    torch.manual_seed(3)
    b = ex.build_model("regr").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("call", [lambda: ex.build_model("resnet"),
                                  lambda: ex.model_cost("nope"),
                                  lambda: ex.train_setting("nope", 0, train=TINY)])
def test_unknown_setting_is_refused_with_the_choices(call):
    with pytest.raises(ValueError, match=r"name must be one of \['none', 'regr'.*got '"):
        call()


def test_model_cost_counts_flops_and_parameters():
    none, regr, five = (ex.model_cost(n) for n in ("none", "regr", "units_5"))
    assert set(none) == {"flops", "params"}
    assert none["params"] == sum(p.numel() for p in ex.build_model("none").parameters())
    assert 0 < none["flops"] < regr["flops"] and none["params"] < regr["params"]
    units_one = ex.model_cost("units_1")
    assert five["flops"] > units_one["flops"] and five["params"] > units_one["params"]


def test_settings_json_is_settings_in_json_form():
    js = ex.settings_json()
    assert js == json.loads(json.dumps(ex.SETTINGS)) and list(js) == list(ex.SETTINGS)


def test_tables_and_claims_name_only_settings():
    for t in ex.TABLES.values():
        assert set(t["ours"]) <= set(ex.SETTINGS)
        assert all(len(r) == 1 + len(t["paper_columns"]) for r in t["paper"])
    for c in ex.CLAIMS.values():
        assert {s for pair in c["comparisons"] for s in pair} <= set(ex.SETTINGS)


# ------------------------------------------------------------------------------ one run
@pytest.fixture(scope="module")
def tiny_run():
    return ex.train_setting("regr", 1, train=TINY)


def test_train_setting_returns_its_record(tiny_run):
    r = tiny_run
    assert r["setting"] == "regr" and r["seed"] == 1 and r["epochs"] == 2
    assert [h["epoch"] for h in r["history"]] == [0, 1]
    assert r["test_acc1"] == r["history"][-1]["test_acc1"]
    assert r["train_samples"] == 128 and r["seconds_per_step"] > 0
    assert r["params"] == ex.model_cost("regr")["params"]
    for h in r["history"]:
        assert 0 <= h["test_acc1"] <= 100 and math.isfinite(h["train_loss"])


def test_stop_after_reproduces_the_first_epoch_bit_for_bit(tiny_run):
    short = ex.train_setting("regr", 1, train=TINY, stop_after=1)
    assert short["epochs"] == 1 and len(short["history"]) == 1
    assert short["history"][0] == tiny_run["history"][0]          # every float, exactly
    other = ex.train_setting("regr", 2, train=TINY, stop_after=1)
    assert other["history"][0]["train_loss"] != tiny_run["history"][0]["train_loss"]


def test_train_setting_callback_sees_every_step():
    seen = []
    ex.train_setting("none", 0, train={**TINY, "epochs": 1}, callback=seen.append)
    assert len(seen) == TINY["train_samples"] // TINY["batch_size"]


@pytest.mark.parametrize("stop_after", [0, 3, 1.5, "1", -1])
def test_stop_after_must_be_an_epoch_of_the_schedule(stop_after):
    with pytest.raises(ValueError, match=rf"stop_after must be an integer in \[1, 2\], "
                                         rf"got {stop_after!r}"):
        ex.train_setting("none", 0, train=TINY, stop_after=stop_after)


def test_a_bad_budget_is_refused_by_the_trainers_checks():
    with pytest.raises(ValueError, match="epochs"):
        ex.train_setting("none", 0, train={**TINY, "epochs": 0})


# ------------------------------------------------------------------------------ measures
def run(setting, seed, final, epoch1=None):
    first = final if epoch1 is None else epoch1
    return {"setting": setting, "seed": seed, "test_acc1": final,
            "history": [{"epoch": 0, "test_acc1": first}, {"epoch": 1, "test_acc1": final}]}


def test_measure_reads_final_and_epoch1():
    r = run("regr", 0, 99.0, 61.0)
    assert ex.measure(r) == 99.0 and ex.measure(r, "final") == 99.0
    assert ex.measure(r, "epoch1") == 61.0
    assert set(ex.MEASURES) == {"final", "epoch1"}
    with pytest.raises(ValueError, match=r"name must be one of \['final', 'epoch1'\], got 'x'"):
        ex.measure(r, "x")


# ------------------------------------------------------------------------------ verdicts
def arm(setting, values, epoch1=None):
    return [run(setting, s, v, None if epoch1 is None else epoch1[s])
            for s, v in enumerate(values)]


ONE = {"c": {"claim": "A beats B", "paper": "p", "comparisons": [("regr", "nl")]}}


def test_verdict_confirmed_when_every_comparison_passes():
    runs = arm("regr", [99, 98, 97, 100, 96]) + arm("nl", [50, 60, 55, 52, 51]) \
        + arm("cgnl", [49, 50, 51, 52, 53])
    v = ex.verdicts(runs)["regions_beat_pixels"]
    assert v["verdict"] == "confirmed" and v["measure"] == "final" and v["alpha"] == 0.05
    c = v["comparisons"][0]
    assert c["n"] == [5, 5] and c["p_for"] == pytest.approx(1 / 252)
    assert c["p_for_holm"] == pytest.approx(2 / 252)          # Holm: smallest of two times 2
    assert c["took_off"] == [5, 0] and c["mean"][0] == pytest.approx(98.0)
    assert c["values"][0] == [99, 98, 97, 100, 96]


def test_verdict_contradicted_when_one_comparison_passes_against_the_paper():
    runs = arm("regr", [50, 51, 52, 49, 50]) + arm("no_refine", [99, 98, 97, 100, 96])
    assert ex.verdicts(runs)["refine_helps"]["verdict"] == "contradicted"


def test_verdict_undecided_when_the_seeds_overlap():
    runs = arm("regr", [99, 50, 98, 51, 97]) + arm("no_refine", [98, 52, 99, 50, 96])
    assert ex.verdicts(runs)["refine_helps"]["verdict"] == "undecided at this power"


def test_verdict_missing_runs_when_a_setting_has_none():
    runs = arm("regr", [99, 98, 97])
    v = ex.verdicts(runs)
    assert all(x["verdict"] == "missing runs" for x in v.values())
    assert v["refine_helps"]["comparisons"] == [{"better": "regr", "worse": "no_refine",
                                                 "missing": True}]


def test_holm_can_turn_raw_passes_into_undecided():
    # 4 vs 4 seeds perfectly separated: p = 1/70 each (< 0.05), Holm x4 = 0.057 (> 0.05)
    claims = {"four": {"claim": "four", "paper": "", "comparisons": [
        ("regr", s) for s in ("scale_1x1", "scale_2x2", "scale_4x4", "scale_four")]}}
    runs = arm("regr", [99, 98, 97, 96]) + list(itertools.chain.from_iterable(
        arm(s, [50, 51, 52, 53]) for s in ("scale_1x1", "scale_2x2", "scale_4x4", "scale_four")))
    v = ex.verdicts(runs, claims)["four"]
    assert all(c["p_for"] == pytest.approx(1 / 70) for c in v["comparisons"])
    assert all(c["p_for_holm"] == pytest.approx(4 / 70) for c in v["comparisons"])
    assert v["verdict"] == "undecided at this power"
    assert ex.verdicts(runs, claims, alpha=0.06)["four"]["verdict"] == "confirmed"


def test_holm_adjustment():
    assert ex.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert ex.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])                 # capped at 1
    assert ex.holm([0.011, 0.012]) == pytest.approx([0.022, 0.022])          # monotone
    assert ex.holm([0.2]) == [0.2] and ex.holm([]) == []


def test_secondary_measure_reads_epoch1_and_can_differ():
    # both at the ceiling at the end, one faster after epoch 1
    runs = (arm("regr", [100] * 5, epoch1=[90, 91, 92, 93, 94])
            + arm("nl", [100] * 5, epoch1=[60, 61, 62, 63, 64]))
    final = ex.verdicts(runs, ONE)["c"]
    first = ex.verdicts(runs, ONE, measure_name="epoch1")["c"]
    assert final["verdict"] == "undecided at this power" and final["measure"] == "final"
    assert first["verdict"] == "confirmed" and first["measure"] == "epoch1"
    with pytest.raises(ValueError, match=r"measure_name must be one of \['final', 'epoch1'\], "
                                         r"got 'best'"):
        ex.verdicts(runs, ONE, measure_name="best")


def test_verdicts_sort_by_seed_and_keep_claim_text():
    runs = arm("regr", [99, 98, 97, 100, 96])[::-1] + arm("nl", [50, 60, 55, 52, 51])
    v = ex.verdicts(runs, ONE)["c"]
    assert v["claim"] == "A beats B" and v["paper"] == "p"
    assert v["comparisons"][0]["values"][0] == [99, 98, 97, 100, 96]
