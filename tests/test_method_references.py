"""Each baseline pinned to its authors' code: the loss on tiny tensors (numbers computed by hand) and the order
and make-up of its batches, so a drift from the reference fails here. The references are named in each
method's module docstring."""

import math
from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.methods import get_method
from hf_unlearn.methods.l1_sparse import l1_strength
from hf_unlearn.methods.random_label import random_labels
from hf_unlearn.methods.salun import top_share_mask

#: KL(teacher || student) for teacher logits [ln 3, 0] (probabilities 0.75, 0.25) and student logits [0, 0]:
#: 0.75 ln(0.75 / 0.5) + 0.25 ln(0.25 / 0.5)
KL = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)  # 0.1308120...
TEACHER = [math.log(3.0), 0.0]


def _method(name, method_args=None, batch=4, epochs=1.0, world_size=1, step=0, epoch=0.0, num_labels=2):
    """A method object on a stand-in run (only what its plan and loss read)."""
    args = SimpleNamespace(method_args=method_args, seed=0, per_device_train_batch_size=batch, world_size=world_size,
                           num_train_epochs=epochs, process_index=0)
    run = SimpleNamespace(args=args, state=SimpleNamespace(global_step=step, epoch=epoch), num_labels=num_labels)
    return get_method(name)(run)


class FixedLogits(torch.nn.Module):
    """A 'model' whose logits are a trainable parameter repeated for every row (so losses have gradients)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(logits, dtype=torch.float64))

    def forward(self, pixel_values):
        return SimpleNamespace(logits=self.logits.expand(len(pixel_values), -1))


class FixedTeacher:
    def __init__(self, logits):
        self.values = torch.tensor(logits, dtype=torch.float64)

    def logits(self, pixel_values):
        return self.values.expand(len(pixel_values), -1)


def _inputs(labels, forget):
    return {"pixel_values": torch.zeros(len(labels), 1), "labels": torch.tensor(labels)}, torch.tensor(forget)


def _combined(retain, forget):
    return Dataset.from_dict({"source": ["retain"] * retain + ["forget"] * forget})


# ------------------------------------------------------------------------------------------------ SCRUB
def test_scrub_loss_is_minus_kl_on_forget_batches_and_gamma_ce_plus_alpha_kl_on_retain_batches():
    scrub = _method("scrub", {"temperature": 1.0})
    scrub.teacher = FixedTeacher(TEACHER)
    model = FixedLogits([0.0, 0.0])
    assert float(scrub.compute_loss(model, *_inputs([0, 1], [True, True]))) == pytest.approx(-KL, abs=1e-9)
    # retain rows: 0.99 * CE (ln 2 for logits [0, 0]) + 0.001 * KL
    expected = 0.99 * math.log(2.0) + 0.001 * KL
    assert float(scrub.compute_loss(model, *_inputs([0, 1], [False, False]))) == pytest.approx(expected, abs=1e-9)
    # temperature 4: softened by T and scaled by T^2 (their DistillKL)
    scrub4 = _method("scrub", {"temperature": 4.0})
    scrub4.teacher = FixedTeacher(TEACHER)
    p = torch.softmax(torch.tensor(TEACHER) / 4, 0)
    kl4 = float((p * (p.log() - math.log(0.5))).sum()) * 16
    assert float(scrub4.compute_loss(model, *_inputs([0], [True]))) == pytest.approx(-kl4, abs=1e-6)


def test_scrub_alternates_a_max_pass_over_the_forget_set_and_a_min_pass_over_the_retain_set():
    # 10 retain rows (0-9) and 5 forget rows (10-14); retain batches of 4, forget batches of 2, msteps 2, 3 epochs
    scrub = _method("scrub", {"msteps": 2, "forget_batch_size": 2}, batch=4, epochs=3)
    plan = scrub.batch_plan(_combined(10, 5))
    assert [len(b) for b in plan] == [2, 2, 1, 4, 4, 2] * 2 + [4, 4, 2]
    kinds = ["forget" if all(i >= 10 for i in b) else "retain" if all(i < 10 for i in b) else "mixed" for b in plan]
    assert kinds == ["forget"] * 3 + ["retain"] * 3 + ["forget"] * 3 + ["retain"] * 3 + ["retain"] * 3
    for start, stop in ((0, 3), (3, 6), (6, 9), (12, 15)):  # every pass covers its rows once
        rows = sorted(i for b in plan[start:stop] for i in b)
        assert rows == (list(range(10, 15)) if stop - start == 3 and plan[start][0] >= 10 else list(range(10)))
    assert len(_method("scrub", {"msteps": 0}, batch=4, epochs=2).batch_plan(_combined(10, 5))) == 6  # min only
    assert len(_method("scrub", {"forget_batch_size": 2}, batch=4, epochs=1.5).batch_plan(_combined(10, 5))) == 6 + 3


# ------------------------------------------------------------------------------------------------ NegGrad+
def test_neggrad_plus_pairs_each_retain_batch_with_a_full_cycled_forget_batch():
    plan = _method("neggrad_plus", batch=4).batch_plan(_combined(10, 3))
    assert [(sum(i < 10 for i in b), sum(i >= 10 for i in b)) for b in plan] == [(4, 3), (4, 3), (2, 3)]
    plan = _method("neggrad_plus", {"forget_batch_size": 2}, batch=4, epochs=2).batch_plan(_combined(10, 3))
    assert [sum(i >= 10 for i in b) for b in plan] == [2, 1, 2] * 2  # cycled within each epoch
    assert sorted(i for b in plan[:2] for i in b if i >= 10) == [10, 11, 12]
    assert sorted(i for b in plan[:3] for i in b if i < 10) == list(range(10))


def test_neggrad_plus_loss_is_the_weighted_difference_of_the_two_batch_means():
    method = _method("neggrad_plus", {"retain_weight": 0.9})
    model = FixedLogits([math.log(3.0), 0.0])  # p = (0.75, 0.25): CE(label 0) = ln(4/3), CE(label 1) = ln 4
    loss = method.compute_loss(model, *_inputs([0, 0, 1, 1], [False, False, True, False]))
    retain_mean = (2 * math.log(4 / 3) + math.log(4.0)) / 3
    assert float(loss) == pytest.approx(0.9 * retain_mean - 0.1 * math.log(4.0), abs=1e-9)


# ------------------------------------------------------------------------------------------------ RL / SalUn
def test_random_labelling_runs_a_forget_pass_then_a_retain_pass_each_epoch():
    plan = _method("random_label", batch=4, epochs=2).batch_plan(_combined(6, 5))
    assert [("f" if b[0] >= 6 else "r", len(b)) for b in plan] == [("f", 4), ("f", 1), ("r", 4), ("r", 2)] * 2
    assert _method("random_label", {"passes": "mixed"}).batch_plan(_combined(6, 5)) is None


def test_random_labels_are_redrawn_every_batch_for_forget_rows_only():
    method = _method("random_label", num_labels=10)
    method._draws = (-1, 0)
    drawn = []
    for step in range(3):
        method.trainer.state.global_step = step
        batch, mask = _inputs([3] * 8 + [5] * 4, [True] * 8 + [False] * 4)
        assert method.compute_loss(None, batch, mask) is None  # the Trainer's CE on the new labels
        assert torch.all(batch["labels"][8:] == 5)  # retain rows keep theirs
        drawn.append(batch["labels"][:8].clone())
    assert not torch.equal(drawn[0], drawn[1]) and not torch.equal(drawn[1], drawn[2])
    method._draws = (-1, 0)
    method.trainer.state.global_step = 0
    again, mask = _inputs([3] * 8 + [5] * 4, [True] * 8 + [False] * 4)
    method.compute_loss(None, again, mask)
    assert torch.equal(again["labels"][:8], drawn[0])  # the same step draws the same labels (repeatable, resumable)


def test_random_labels_are_uniform_over_all_classes_or_wrong_only():
    generator = torch.Generator().manual_seed(0)
    true = torch.full((20000,), 3)
    uniform = random_labels(true, 10, False, generator)
    assert set(uniform.tolist()) == set(range(10)) and abs(float((uniform == 3).float().mean()) - 0.1) < 0.01
    wrong = random_labels(true, 10, True, generator)
    assert set(wrong.tolist()) == set(range(10)) - {3}


def test_salun_mask_ranks_the_magnitude_of_the_summed_gradient():
    # two batches: weight 0 gets +3 then -3 (sum 0: not salient, though its per-batch magnitudes are the largest)
    g1, g2 = torch.tensor([3.0, 1.0, -2.0]), torch.tensor([-3.0, 1.0, 0.5])
    assert top_share_mask([g1 + g2], 0.5)[0].tolist() == [0.0, 1.0, 0.0]  # |sum| = 0, 2, 1.5: keep the top half
    assert top_share_mask([g1 + g2], 1.0)[0].tolist() == [0.0, 1.0, 1.0]  # a zero gradient is never free
    masks = top_share_mask([torch.tensor([[4.0, -1.0]]), torch.tensor([0.5, -3.0])], 0.5)  # one global threshold
    assert [m.tolist() for m in masks] == [[[1.0, 0.0]], [0.0, 1.0]]


# ------------------------------------------------------------------------------------------------ Bad Teacher
def test_bad_teacher_loss_is_torch_kl_div_default_mean_over_rows_and_classes():
    method = _method("bad_teacher")
    method.competent, method.incompetent = FixedTeacher(TEACHER), FixedTeacher([0.0, 0.0])
    model = FixedLogits([0.0, 0.0])
    # one retain row (teacher: the competent one, KL as above) and one forget row (same as the student: KL 0),
    # mean over 2 rows x 2 classes
    loss = method.compute_loss(model, *_inputs([0, 1], [False, True]))
    assert float(loss) == pytest.approx(KL / 4, abs=1e-9)
    teacher = torch.softmax(torch.tensor([TEACHER, [0.0, 0.0]], dtype=torch.float64), 1)
    reference = torch.nn.functional.kl_div(torch.log_softmax(torch.zeros(2, 2, dtype=torch.float64), 1), teacher)
    assert float(loss) == pytest.approx(float(reference), abs=1e-12)


# ------------------------------------------------------------------------------------------------ l1-sparse
def test_l1_sparse_strength_is_held_per_epoch_and_decays_linearly():
    assert [l1_strength(1e-3, e, 4) for e in (0.0, 0.99, 1.0, 1.5, 3.99)] == pytest.approx(
        [1e-3, 1e-3, 7.5e-4, 7.5e-4, 2.5e-4])
    method = _method("l1_sparse", {"l1_weight": 0.01}, epochs=2, epoch=1.25)
    model = FixedLogits([0.0, 0.0])
    loss = method.compute_loss(model, *_inputs([0], [False]))  # CE ln 2 + 0.01 * (1 - 1/2) * |0| + |0|
    assert float(loss) == pytest.approx(math.log(2.0))


# ------------------------------------------------------------------------------------------------ in the trainer
def _config(tmp_path, method, **overrides):
    settings = dict(output_dir=str(tmp_path / method), method=method, forget_classes=["3"], seed=0, use_cpu=True,
                    disable_tqdm=True, report_to="none", per_device_train_batch_size=32, logging_steps=1000,
                    eval_retain_samples=200, mia_splits=3, num_train_epochs=2, learning_rate=0.001)
    return UnlearningConfig(**{**settings, **overrides})


def test_a_planned_method_trains_its_plan_batch_by_batch_and_no_method_clips_by_default(
        tmp_path, trained_model_dir, digits):
    config = _config(tmp_path, "scrub", method_args={"forget_batch_size": 16, "msteps": 1})
    trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                                eval_dataset=digits["test"])
    assert trainer.args.max_grad_norm == 0.0  # unset: the reference's setting (none of them clips)
    seen, original = [], trainer.method.compute_loss

    def spy(model, inputs, forget_mask, *args, **kwargs):
        seen.append((len(forget_mask), bool(forget_mask.all()), bool(forget_mask.any())))
        return original(model, inputs, forget_mask, *args, **kwargs)

    trainer.method.compute_loss = spy
    result = trainer.unlearn(evaluate_original=False)
    forget, retain = len(trainer.forget_dataset), len(trainer.retain_dataset)
    expected = ([(min(16, forget - i), True, True) for i in range(0, forget, 16)]
                + [(min(32, retain - i), False, False) for i in range(0, retain, 32)]
                + [(min(32, retain - i), False, False) for i in range(0, retain, 32)])
    assert seen == expected
    assert trainer.state.global_step == len(expected) == len(trainer.batch_plan)
    assert result.to_dict()["config"]["max_grad_norm"] == 0.0  # recorded
    capped = UnlearningTrainer(model=trained_model_dir, args=_config(tmp_path, "scrub", max_steps=3),
                               train_dataset=digits["train"], eval_dataset=digits["test"])
    capped.unlearn(evaluate_original=False)
    assert capped.state.global_step == 3 < len(capped.batch_plan)  # a max_steps the user set is kept
    clipped = UnlearningTrainer(model=trained_model_dir, args=_config(tmp_path, "finetune", max_grad_norm=1.0),
                                train_dataset=digits["train"])
    assert clipped.args.max_grad_norm == 1.0  # set: kept


def test_salun_holds_masked_out_weights_at_their_original_values_despite_decay_and_momentum(
        tmp_path, trained_model_dir, digits):
    config = _config(tmp_path, "salun", learning_rate=0.01, weight_decay=5e-3, method_args={"mask_ratio": 0.2})
    trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                                eval_dataset=digits["test"])
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.unlearn(evaluate_original=False)
    changed = total = 0
    for name, param in trainer.model.named_parameters():
        changed += int((param.detach() != before[name]).sum())
        total += param.numel()
    assert 0 < changed <= 0.2 * total + 1  # weight decay and momentum would move every weight


def test_a_resumed_run_skips_exactly_the_planned_batches_already_trained():
    from accelerate import skip_first_batches

    from hf_unlearn.methods.schedule import planned_loader

    plan = _method("scrub", {"forget_batch_size": 2}, batch=4, epochs=2).batch_plan(_combined(10, 6))
    data = [{"row": i} for i in range(16)]
    args = SimpleNamespace(process_index=0, world_size=1, dataloader_num_workers=0, dataloader_pin_memory=False)
    loader = planned_loader(data, plan, args, lambda rows: [r["row"] for r in rows])
    assert list(loader) == plan
    assert list(skip_first_batches(loader, 5)) == plan[5:]  # what the Trainer does when it resumes at step 5
    second = planned_loader(data, plan, SimpleNamespace(**{**vars(args), "process_index": 1, "world_size": 2}),
                            lambda rows: [r["row"] for r in rows])
    assert list(second) == [batch[1::2] for batch in plan]  # process 1 of 2: its share of every global batch
    odd = _method("scrub", {"forget_batch_size": 2}, batch=4).batch_plan(_combined(10, 5))  # a 1-row batch
    with pytest.raises(ValueError, match="batch of 1 rows cannot be shared by 2 processes"):
        planned_loader(data, odd, SimpleNamespace(**{**vars(args), "world_size": 2}), list)
