"""Every registered method on a tiny digits model: it runs through the same UnlearningTrainer API and moves
the forget set the way its paper says, while the retain set is kept."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageClassification

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.methods import available_methods

#: Per method: settings strong enough to show the paper's effect on a tiny model in a few seconds.
SETTINGS = {
    "finetune": dict(learning_rate=0.05, num_train_epochs=3),
    "retrain": dict(learning_rate=0.05, num_train_epochs=6),
    "neggrad": dict(learning_rate=0.002, num_train_epochs=2),
    "neggrad_plus": dict(learning_rate=0.05, num_train_epochs=2, method_args={"retain_weight": 0.9}),
    "random_label": dict(learning_rate=0.02, num_train_epochs=3),
    "salun": dict(learning_rate=0.02, num_train_epochs=3),
    "l1_sparse": dict(learning_rate=0.05, num_train_epochs=3, method_args={"l1_weight": 5e-4}),
    "scrub": dict(learning_rate=0.01, num_train_epochs=2),
    "bad_teacher": dict(learning_rate=0.1, num_train_epochs=2),  # its loss is the KL / classes (theirs)
    "multigan": dict(learning_rate=0.01, num_train_epochs=2, method_args={
        "gan": {"generator_channels": 8, "discriminator_channels": 8, "epochs": 1, "min_steps": 20},
        "num_synthetic_retain": 64, "num_synthetic_forget": 64}),
}
#: Methods whose papers remove the forgotten class outright (forget accuracy near what a model that never saw
#: it would get); fine-tuning and l1-sparse only erode it (catastrophic forgetting), so they are held to a
#: weaker claim: the forget set's true-class confidence falls while the retain set is kept.
ERASERS = {"retrain", "neggrad", "neggrad_plus", "random_label", "salun", "scrub", "bad_teacher", "multigan"}


def _config(tmp_path, method, **overrides):
    settings = dict(output_dir=str(tmp_path / method), method=method, forget_classes=["3"], seed=0, use_cpu=True,
                    disable_tqdm=True, report_to="none", per_device_train_batch_size=32, logging_steps=1000,
                    eval_retain_samples=None, mia_splits=3)
    return UnlearningConfig(**{**settings, **SETTINGS[method], **overrides})


def _forget_confidence(trainer, model):
    preds = trainer.predict_logits(trainer.forget_dataset, model)
    return float(preds.probabilities[np.arange(len(preds.labels)), preds.labels].mean())


def test_every_issue_method_is_registered():
    assert set(SETTINGS) <= set(available_methods())


#: Only what keeps a run short on the digits (a GAN, an attack); any other method runs at its own defaults.
QUICK = {"multigan": {"method_args": SETTINGS["multigan"]["method_args"]},
         "amun": dict(method_args={"attack_steps": 5})}


@pytest.mark.parametrize("method", available_methods())
def test_every_registered_method_keeps_the_contract(method, tmp_path, trained_model_dir, digits):
    """Whatever its loss, a method registered by name runs through the same API on a request by row numbers:
    the model moves, the run is scored and written, and its options are recorded (a new method is exercised
    here without being listed)."""
    from hf_unlearn.safety import weights_digest

    forget = sorted(np.random.default_rng(0).choice(len(digits["train"]), 30, replace=False).tolist())
    config = UnlearningConfig(str(tmp_path / "out"), method=method, forget_indices=forget, seed=0, use_cpu=True,
                              disable_tqdm=True, report_to="none", per_device_train_batch_size=32, num_train_epochs=1,
                              learning_rate=0.01, num_retain_samples=96, eval_retain_samples=96, logging_steps=1000,
                              mia_splits=3, **QUICK.get(method, {}))
    trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                                eval_dataset=digits["test"])
    before = weights_digest(trainer.model)
    result = trainer.unlearn()
    assert weights_digest(trainer.model) != before, f"{method} left the model unchanged"
    assert result.method == method and result.counts["forget"] == 30
    for name in ("forget_accuracy", "retain_accuracy", "test_accuracy"):
        assert np.isfinite(result.metrics["unlearned"][name]), (name, result.metrics["unlearned"])
    assert (tmp_path / "out" / "model.safetensors").is_file() and (tmp_path / "out" / "README.md").is_file()
    assert result.config["method"] == method
    _check_library_run_loop(trainer)


def _check_library_run_loop(trainer):
    """The library's run-loop functions, which the GPU benchmark's tensor loop calls instead of the Trainer, count
    the optimizer steps the Trainer took and build the optimizer and schedule it built."""
    from hf_unlearn.finetuning import fine_tuning_optimizer, fine_tuning_scheduler, fine_tuning_steps

    steps = fine_tuning_steps(trainer.args, len(trainer.train_dataset), trainer.batch_plan)
    assert steps.total == trainer.state.max_steps == trainer.state.global_step
    built = getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # accelerate's wrapper
    ours = fine_tuning_optimizer(trainer.model, trainer.args)
    assert type(ours) is type(built)

    def settings(groups):  # a scheduler has moved `lr` and kept the starting one as `initial_lr`
        return [({**{k: v for k, v in g.items() if k not in ("params", "initial_lr")},
                  "lr": g.get("initial_lr", g["lr"])}, len(g["params"])) for g in groups]

    assert settings(ours.param_groups) == settings(built.param_groups)
    scheduler = fine_tuning_scheduler(trainer.method, trainer.args, ours, steps)
    assert type(scheduler) is type(trainer.lr_scheduler)
    for _ in range(steps.total):
        ours.step()
        scheduler.step()
    assert scheduler.get_last_lr() == pytest.approx(trainer.lr_scheduler.get_last_lr())


@pytest.mark.parametrize("method", sorted(SETTINGS))
def test_method_moves_the_forget_set_and_keeps_the_retain_set(method, tmp_path, trained_model_dir, digits):
    original = AutoModelForImageClassification.from_pretrained(trained_model_dir)
    trainer = UnlearningTrainer(model=trained_model_dir, args=_config(tmp_path, method), train_dataset=digits["train"],
                                eval_dataset=digits["test"])
    before = _forget_confidence(trainer, original)
    result = trainer.unlearn()
    after = result.metrics["unlearned"]
    assert after["retain_accuracy"] > 85, after  # the other classes are kept
    if method in ERASERS:
        assert after["forget_accuracy"] < 40, after  # from 100%: the class is mostly gone
    else:
        assert _forget_confidence(trainer, trainer.model) < before - 0.05
    if method != "retrain":
        assert result.metrics["original"]["forget_accuracy"] > 95


def test_l1_sparse_shrinks_the_weights_more_than_finetuning(tmp_path, trained_model_dir, digits):
    norms = {}
    for method in ("finetune", "l1_sparse"):
        config = _config(tmp_path, method, learning_rate=0.05, num_train_epochs=2,
                         method_args={"l1_weight": 1e-3} if method == "l1_sparse" else None)
        trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"])
        trainer.train_dataset = trainer.method.build_train_dataset().with_transform(trainer.transform)
        trainer.train()
        norms[method] = float(sum(p.detach().abs().sum() for p in trainer.model.parameters()))
    assert norms["l1_sparse"] < 0.9 * norms["finetune"]


def test_neggrad_plus_and_scrub_see_which_rows_are_forget_rows(tmp_path, trained_model_dir, digits):
    for method in ("neggrad_plus", "scrub"):
        seen = []
        config = _config(tmp_path, method, num_train_epochs=1)
        trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"])
        original = trainer.method.compute_loss

        def spy(model, inputs, forget_mask, *args, _seen=seen, _original=original, **kwargs):
            _seen.append((inputs["labels"].clone(), forget_mask.clone()))
            assert "is_forget" not in inputs  # never reaches the model's forward
            return _original(model, inputs, forget_mask, *args, **kwargs)

        trainer.method.compute_loss = spy
        trainer.unlearn(evaluate_original=False)
        labels = torch.cat([labels for labels, _ in seen])
        mask = torch.cat([mask for _, mask in seen])
        assert int(mask.sum()) >= len(trainer.forget_dataset)  # every forget row (NegGrad+ cycles them)
        assert torch.all(labels[mask] == 3) and not torch.any(labels[~mask] == 3), method


def test_unknown_method_option_is_refused_before_training(tmp_path, trained_model_dir, digits):
    # refused when the config is built (the trainer would refuse it too, before any work)
    with pytest.raises(ValueError, match="mask_ration.*options of method 'salun'.*mask_ratio"):
        _config(tmp_path, "salun", method_args={"mask_ration": 0.5})
    with pytest.raises(ValueError, match=r"method_args.retain_weight = 1.5 is out of range: it must be in \(0, 1\)"):
        _config(tmp_path, "neggrad_plus", method_args='{"retain_weight": 1.5}')
    config = _config(tmp_path, "neggrad_plus")
    config.method_args = {"retain_weight": 1.5}  # set after the config was built: the trainer still refuses it
    with pytest.raises(ValueError, match=r"method_args.retain_weight = 1.5 is out of range: it must be in \(0, 1\)"):
        UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"])
    assert not (tmp_path / "neggrad_plus").exists()  # nothing written


def test_sequential_request_excludes_earlier_forget_sets(tmp_path, trained_model_dir, digits):
    first = UnlearningTrainer(model=trained_model_dir, args=_config(tmp_path, "neggrad"),
                              train_dataset=digits["train"], eval_dataset=digits["test"])
    first.unlearn()
    threes = set(first.forget_indices.tolist())
    second_rows = [i for i in range(40) if i not in threes][:10]
    config = _config(tmp_path, "finetune", forget_classes=None, forget_indices=second_rows,
                     previous_forget_sets=[str(tmp_path / "neggrad")], output_dir=str(tmp_path / "second"))
    second = UnlearningTrainer(model=str(tmp_path / "neggrad"), args=config, train_dataset=digits["train"],
                               eval_dataset=digits["test"])
    retain = set(second.retain_indices.tolist())
    assert not retain & threes and not retain & set(second_rows)
    assert len(retain) == len(digits["train"]) - len(threes) - len(second_rows)
    result = second.unlearn()
    assert result.forget_set["previous_sha256"] == [first.forget_set.spec_hash()]
    overlapping = _config(tmp_path, "finetune", forget_classes=None, forget_indices=sorted(threes)[:3],
                          previous_forget_sets=[str(tmp_path / "neggrad")], output_dir=str(tmp_path / "third"))
    with pytest.raises(ValueError, match="already forgotten by earlier request 1"):
        UnlearningTrainer(model=str(tmp_path / "second"), args=overlapping, train_dataset=digits["train"])
