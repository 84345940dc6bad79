"""The ablations chapter's helpers: records, tables, figures, the replay and the exercise
graders; errors name the parameter, the rule and the value."""
import json

import pytest
import torch
from matplotlib.figure import Figure

from regr_edu import experiments
from regr_edu.interactive import ablations as ia


def run(setting, seed, final, epoch1=None, sps=0.01):
    first = final if epoch1 is None else epoch1
    return {"setting": setting, "seed": seed, "test_acc1": final, "seconds_per_step": sps,
            "history": [{"epoch": 0, "test_acc1": first, "train_loss": 0.7, "train_acc1": 50.0},
                        {"epoch": 1, "test_acc1": final, "train_loss": 0.1, "train_acc1": 99.0}]}


RUNS = ([run("regr", s, v, 80.0 + s) for s, v in enumerate([99, 98, 97, 100, 96])]
        + [run("nl", s, v, 55.0) for s, v in enumerate([50, 60, 55, 52, 51])]
        + [run("cgnl", s, 49.0 + s, 52.0) for s in range(5)]
        + [run("none", s, 50.0 + s, sps=0.005) for s in range(3)])


# ------------------------------------------------------------------------------ the record
def test_records_are_found_beside_the_package_not_the_cwd(tmp_path, monkeypatch):
    import regr_edu
    import pathlib
    root = pathlib.Path(regr_edu.__file__).resolve().parent.parent
    assert ia.RESULTS == root / "benchmarks" / "results"
    (tmp_path / "mine.json").write_text(json.dumps({"runs": RUNS}))
    monkeypatch.chdir(tmp_path)
    assert ia.load_record("mine", tmp_path)["runs"] == RUNS
    with pytest.raises(FileNotFoundError, match=r"no record at .*absent\.json"):
        ia.load_record("absent", tmp_path)


@pytest.mark.parametrize("name", ["", "a/b", "ablations.json", 3])
def test_load_record_refuses_a_bad_name(name):
    with pytest.raises(ValueError, match=r"name must be a record's file name without '\.json'"):
        ia.load_record(name)


def test_load_record_refuses_a_file_without_runs(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"runs": {}}))
    with pytest.raises(ValueError, match="must hold a list 'runs', got dict"):
        ia.load_record("x", tmp_path)


def test_setting_stats():
    s = ia.setting_stats(RUNS, "regr")
    assert s["n"] == 5 and s["seeds"] == [0, 1, 2, 3, 4] and s["mean"] == pytest.approx(98.0)
    assert s["took_off"] == 5 and s["epoch1"] == pytest.approx(82.0)
    assert ia.setting_stats(RUNS, "nl")["took_off"] == 0
    assert ia.setting_stats(RUNS, "gcn") is None
    assert ia.setting_stats(RUNS[:1], "regr")["std"] == 0.0
    with pytest.raises(ValueError, match="runs must be a list of run records"):
        ia.setting_stats([{"seed": 0}], "regr")


# ------------------------------------------------------------------------------ verdicts
def test_verdict_table_shows_both_measures_and_the_papers_numbers():
    out = ia.verdict_table(RUNS)
    for text in ("confirmed", "missing runs", "secondary", "the paper's numbers",
                 experiments.CLAIMS["regions_beat_pixels"]["paper"], "98.0 ± 1.6 (n=5, 5 took off)",
                 "not run yet", "p (A &lt; B), Holm", "+ReGr (2,2)+(4,4), bilinear, refine &gt; NL"):
        assert text in out, text
    assert out.count("<tr>") == 1 + sum(len(c["comparisons"]) for c in experiments.CLAIMS.values())


def test_verdict_summary_says_each_verdict_and_marks_the_ceiling():
    claims = {"c": {"claim": "A beats B", "paper": "", "comparisons": [("regr", "nl")]}}
    text = ia.verdict_summary(RUNS, claims)
    assert text.startswith("- **A beats B**: confirmed (final top-1); secondary")
    assert "ceiling" not in text
    top = [run("regr", s, 100.0) for s in range(5)] + [run("nl", s, 99.5) for s in range(5)]
    assert "ceiling" in ia.verdict_summary(top, claims)


def test_table_beside_the_paper():
    out = ia.table_beside_paper(RUNS, "peers")
    assert "paper: CUB200 top-1" in out and "86.19" in out and "not run yet" in out
    assert "98.0 ± 1.6" in out and "5/5" in out
    with pytest.raises(ValueError, match=r"key must be one of \['scales', .*got 'tables'"):
        ia.table_beside_paper(RUNS, "tables")


# ------------------------------------------------------------------------------ figures
def test_curves_figure():
    fig = ia.curves_figure(RUNS, ["regr", "nl", "gcn"], columns=2)
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 3 and len(shown[0].lines) == 5 + 1 + 1      # seeds, mean, chance


@pytest.mark.parametrize("kwargs, match", [
    ({"names": []}, r"names must be a non-empty list of setting names, got \[\]"),
    ({"names": "regr"}, r"names must be a non-empty list of setting names, got 'regr'"),
    ({"names": ["regr"], "columns": 0}, r"columns must be an integer >= 1, got 0"),
])
def test_curves_figure_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ia.curves_figure(RUNS, **kwargs)


def test_cost_figure():
    costs = {n: {"flops": 1e6 * (k + 1), "params": 1.0} for k, n in enumerate(experiments.SETTINGS)}
    fig = ia.cost_figure(RUNS, costs)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.legends[0].get_texts()) == 4                    # regr, nl, cgnl, none
    with pytest.raises(ValueError, match=r"costs must map setting names to .*got list"):
        ia.cost_figure(RUNS, [])


# ------------------------------------------------------------------------------ replay
def test_first_epoch_rows_compare_bit_for_bit():
    a = {"train_loss": 0.5, "train_acc1": 60.0, "test_acc1": 70.0}
    rows = ia.first_epoch_rows(a, dict(a))
    assert [r["quantity"] for r in rows] == list(ia.FIRST_EPOCH_KEYS)
    assert all(r["equal"] for r in rows)
    assert not ia.first_epoch_rows(a, {**a, "test_acc1": 70.0000001})[2]["equal"]
    table = ia.first_epoch_table(rows, "epoch 1 <of> x")
    assert "epoch 1 &lt;of&gt; x" in table and table.count("<td>True</td>") == 3
    with pytest.raises(ValueError, match=r"live must be a history row with \['train_loss'"):
        ia.first_epoch_rows(a, {"train_loss": 0.5})


def test_replay_verdict_is_strict_on_the_recording_numerics_and_tolerant_elsewhere():
    here = {"torch": "2.x", "cpu_capability": "AVX2", "cpu": "some CPU", "machine": "x86_64"}
    other = {**here, "cpu_capability": "AVX512"}
    a = {"train_loss": 0.6572, "train_acc1": 56.1, "test_acc1": 66.8}
    same = ia.first_epoch_rows(a, dict(a))
    assert ia.replay_verdict(same, here, here).startswith("bit for bit")
    assert ia.replay_verdict(same, None, here).startswith("bit for bit")
    drift = ia.first_epoch_rows(a, {**a, "train_loss": 0.6457, "test_acc1": 84.0})
    with pytest.raises(AssertionError, match="the package's numbers changed"):
        ia.replay_verdict(drift, here, here)                  # same numerics: must be exact
    for recorded in (other, None):                            # another CPU, or not recorded
        said = ia.replay_verdict(drift, recorded, here)
        assert said.startswith("not bit for bit") and "0.0115" in said, said
    far = ia.first_epoch_rows(a, {**a, "train_loss": 0.6572 + 1.01 * ia.REPLAY_LOSS_TOL})
    with pytest.raises(AssertionError, match=r"tolerance 0.03"):
        ia.replay_verdict(far, other, here)
    nan = ia.first_epoch_rows(a, {**a, "train_loss": float("nan")})
    with pytest.raises(AssertionError):
        ia.replay_verdict(nan, None, here)


def test_numerics_fingerprint_names_what_fixes_the_bits():
    from regr_edu.device import numerics_fingerprint
    f = numerics_fingerprint()
    assert set(f) == {"torch", "cpu_capability", "cpu", "machine"}
    assert f["torch"] == torch.__version__ and all(isinstance(v, str) and v for v in f.values())
    assert f == numerics_fingerprint()


def test_replay_first_epoch_reruns_a_recorded_run():
    train = {**experiments.TRAIN, "train_samples": 128, "test_samples": 64, "epochs": 2,
             "batch_size": 32}
    full = experiments.train_setting("none", 0, train=train)
    out = ia.replay_first_epoch([full], "none", 0, train=train)
    assert all(r["equal"] for r in out["rows"]) and out["live"]["epochs"] == 1
    with pytest.raises(ValueError, match=r"\(name, seed\) must be a recorded run, got "
                                         r"\('none', 1\)"):
        ia.replay_first_epoch([full], "none", 1)


# ------------------------------------------------------------------------------ exercises
def test_grade_holm():
    assert ia.grade_holm(experiments.holm, verbose=False)

    def bonferroni(p):
        return [min(1.0, len(p) * v) for v in p]
    result = ia.grade_holm(bonferroni, verbose=False)
    assert not result and "case 2 ([0.01, 0.04, 0.03])" in str(result)
    assert "raised ZeroDivisionError" in str(ia.grade_holm(lambda p: 1 / 0, verbose=False))
    with pytest.raises(TypeError, match="student_fn must be callable, got int"):
        ia.grade_holm(3)


def test_grade_verdict():
    assert ia.grade_verdict(ia.verdict_rule, verbose=False)

    def forgets_contradiction(p_for, p_against, alpha):
        return "confirmed" if all(p < alpha for p in p_for) else "undecided at this power"
    result = ia.grade_verdict(forgets_contradiction, verbose=False)
    assert not result and "expected 'contradicted', got 'undecided at this power'" in str(result)


def test_verdict_rule_agrees_with_experiments_verdicts():
    for runs in (RUNS, [run("regr", s, 50.0) for s in range(5)]
                 + [run("nl", s, 99.0) for s in range(5)]):
        v = experiments.verdicts(runs, {"c": {"claim": "", "paper": "",
                                              "comparisons": [("regr", "nl")]}})["c"]
        c = v["comparisons"][0]
        assert ia.verdict_rule([c["p_for_holm"]], [c["p_against_holm"]], 0.05) == v["verdict"]
