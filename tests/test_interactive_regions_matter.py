"""The regions-that-matter chapter's helpers: the record in the experiments' form, the rerun
through the command line, the task's figures and the exercise grader; errors name the
parameter, the rule and the value."""
import pytest

from regr_edu.interactive import regions_matter as rm


def synthetic_record(runs=None):
    settings = {"dataset": "synthetic-image", "image_size": 64, "train_samples": 128,
                "test_samples": 64, "model": "small_resnet", "model_kwargs": {"widths": [8, 8, 8]},
                "num_units": 1, "epochs": 2, "batch_size": 32, "optimizer": "adam", "lr": 3e-3,
                "momentum": 0.9, "weight_decay": 0.0, "schedule": "cosine",
                "warmup_epochs": 1.0, "warmup_factor": 0.1, "eval_every": 1, "threads": 1}
    arms = {"none": {"label": "plain", "unit": None, "unit_kwargs": {}},
            "regr_norefine": {"label": "ReGr w/o refine", "unit": "regr",
                              "unit_kwargs": {"refine": False}}}
    return {"settings": settings, "arms": arms, "runs": runs or []}


def test_synthetic_runs_take_the_experiments_form():
    rec = synthetic_record([{"arm": "none", "seed": 2, "final_test_acc1": 51.0, "history": [
        {"epoch": 0, "test_acc1": 50.0, "epoch_seconds": 2.0},
        {"epoch": 1, "test_acc1": 51.0, "epoch_seconds": 2.0}]}])
    (r,) = rm.synthetic_runs(rec)
    assert r["setting"] == "none" and r["seed"] == 2 and r["test_acc1"] == 51.0
    assert r["seconds_per_step"] == pytest.approx(2.0 / 4)
    assert "plain" in rm.arm_table(rec) and "not run yet" in rm.arm_table(rec)
    both = rm.earlier_and_now(rec, rec)
    assert "128 images × 2 epochs, adam lr 0.003" in both and "0/1 took off" in both
    assert rm.arm_labels(rec) == {"none": {"label": "plain"},
                                  "regr_norefine": {"label": "ReGr w/o refine"}}
    with pytest.raises(ValueError, match="record must be the synthetic sweep's record"):
        rm.synthetic_runs({"runs": []})


def test_cli_argv_is_the_recorded_configuration(tmp_path):
    from regr_edu.train import parse_config
    rec = synthetic_record()
    cfg = parse_config(rm.cli_argv(rec, "regr_norefine", 3, tmp_path / "r", stop_epoch=1))
    for key, value in rec["settings"].items():
        assert getattr(cfg, key) == value, key
    assert (cfg.seed, cfg.data_seed, cfg.unit, cfg.unit_kwargs, cfg.stop_epoch) == (
        3, 3, "regr", {"refine": False}, 1)
    with pytest.raises(ValueError, match=r"arm must be one of \['none', 'regr_norefine'\], "
                                         r"got 'nl'"):
        rm.cli_argv(rec, "nl", 0, tmp_path)
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got -1"):
        rm.cli_argv(rec, "none", -1, tmp_path)


def test_replay_cli_first_epoch_is_bit_for_bit(tmp_path):
    from regr_edu.train import main
    from regr_edu.training import read_metrics
    rec = synthetic_record()
    main(rm.cli_argv(rec, "regr_norefine", 0, tmp_path / "full"))
    history = read_metrics(tmp_path / "full")
    assert len(history) == 2
    rec["runs"] = [{"arm": "regr_norefine", "seed": 0, "final_test_acc1": history[-1]["test_acc1"],
                    "history": history}]
    out = rm.replay_cli_first_epoch(rec, "regr_norefine", 0)
    assert all(r["equal"] for r in out["rows"]), out["rows"]
    with pytest.raises(ValueError, match=r"\(arm, seed\) must be a recorded run, got "
                                         r"\('none', 0\)"):
        rm.replay_cli_first_epoch(rec, "none", 0)


def test_receptive_field_and_its_grader():
    main_path = [(3, 2), (3, 1), (3, 1), (3, 2), (3, 1), (3, 2), (3, 1)]
    assert rm.receptive_field(main_path) == (47, 8) and rm.receptive_field([]) == (1, 1)
    assert rm.grade_receptive_field(rm.receptive_field, verbose=False)

    def stride_too_early(layers):
        size, jump = 1, 1
        for k, s in layers:
            jump *= s
            size += (k - 1) * jump
        return size, jump
    result = rm.grade_receptive_field(stride_too_early, verbose=False)
    assert not result and "case 3 ([(3, 2)]): expected (3, 2), got (5, 2)" in str(result)
    with pytest.raises(ValueError, match=r"layers must be a list of \(kernel, stride\) pairs "
                                         r"of positive integers, got \[\(3, 0\)\]"):
        rm.receptive_field([(3, 0)])


def test_task_figures_and_their_checks():
    from regr_edu.data.synthetic import SyntheticClips, SyntheticImages
    data, clips = SyntheticImages(8, seed=0), SyntheticClips(4, seed=0)
    assert sum(bool(ax.images) for ax in rm.samples_figure(data, 8).axes) == 8
    assert len(rm.clip_figure(clips, 1).axes) == clips[1][0].shape[1]
    with pytest.raises(ValueError, match=r"count must be an integer in \[1, 8\], got 9"):
        rm.samples_figure(data, 9)
    with pytest.raises(ValueError, match=r"index must be an integer in \[0, 3\], got 4"):
        rm.clip_figure(clips, 4)


def _study(accs, bn=True):
    """A tiny refine_study record: arm "off", seeds 0.., one final top-1 each, monitor rows
    with the loss and (``bn``) the last BatchNorm's weight."""
    def run(seed, acc):
        monitor = [{"step": s, "loss": 0.7 - 0.1 * s * (acc > 75),
                    **({"bn_weight": 0.01 * s} if bn else {})} for s in (4, 8, 12)]
        return {"arm": "off", "task": "image", "opt": "sgd", "seed": seed,
                "final_test_acc1": acc, "history": [], "monitor": monitor}
    return {"tasks": {"image": {"chance": 50.0}}, "arms": {"off": {"label": "refine off"}},
            "runs": [run(seed, acc) for seed, acc in enumerate(accs)]}


def test_running_mean_averages_the_last_values():
    assert rm._running_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert rm._running_mean([2.0, 4.0], 1) == [2.0, 4.0]


def test_seed_curves_figure_colours_runs_by_take_off():
    fig = rm.seed_curves_figure(_study([99.0, 50.0, 80.0]), "image", "sgd", ["off"], smooth=2)
    loss, bn = fig.axes
    assert [line.get_color() for line in loss.lines] == ["C0", "C3", "C0"]
    assert len(bn.lines) == 3 and list(bn.lines[0].get_ydata()) == pytest.approx([0.04, 0.08, 0.12])
    assert loss.get_title() == "off: 2 of 3 took off"
    assert list(loss.lines[0].get_ydata()) == pytest.approx([0.3, 0.1, -0.3])   # running mean, 2
    with pytest.raises(ValueError, match="bn_weight column"):
        rm.seed_curves_figure(_study([99.0], bn=False), "image", "sgd", ["off"])
    with pytest.raises(ValueError, match="arms must be a non-empty list"):
        rm.seed_curves_figure(_study([99.0]), "image", "sgd", "off")
    with pytest.raises(ValueError, match="smooth"):
        rm.seed_curves_figure(_study([99.0]), "image", "sgd", ["off"], smooth=0)


def test_rerun_table_marks_the_runs_that_changed_side():
    table = rm.rerun_table(_study([99.0, 50.0, 80.0]), _study([98.0, 90.0, 60.0]), "image", "sgd",
                           ["off"], names=("then", "now"))
    assert "<td>then</td><td>2/3</td><td>99.0 <b>50.0</b> <b>80.0</b></td>" in table
    assert "<td>now</td><td>2/3</td><td>98.0 <b>90.0</b> <b>60.0</b></td>" in table
    with pytest.raises(ValueError, match="the same seeds of arm 'off'"):
        rm.rerun_table(_study([99.0]), _study([99.0, 50.0]), "image", "sgd", ["off"])
    with pytest.raises(ValueError, match="names must be two labels"):
        rm.rerun_table(_study([99.0]), _study([99.0]), "image", "sgd", ["off"], names="ab")
