"""The ledger is the privacy chain (issue 28): verified before every request (it parses, its entries chain, the
weights are its last output, its specifications are there), refused with what broke and how to repair it unless
`ledger_override` gives a reason (recorded and shown), and checkable by anyone with `hf-unlearn verify`. Plus the
inputs people send as their tools write them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.cli import main
from hf_unlearn.errors import ForgetSetError, LedgerError

from .test_requests import OWNERS, config


@pytest.fixture(scope="module")
def owned(digits):
    n = len(digits["train"])
    return digits["train"].add_column("owner", [f"u{i % OWNERS:02d}" for i in range(n)])


@pytest.fixture(scope="module")
def chain(tmp_path_factory, trained_model_dir, owned, digits):
    """Three sequential requests (u01, then u02, then u03), each on the previous one's output folder."""
    root = tmp_path_factory.mktemp("chain")
    source = trained_model_dir
    for number, owner in enumerate(("u01", "u02", "u03"), start=1):
        out = root / f"request-{number}"
        UnlearningTrainer(model=source, args=config(out, forget_where={"owner": [owner]}), train_dataset=owned,
                          eval_dataset=digits["test"]).unlearn()
        source = str(out)
    return root


def copy_of(chain, tmp_path, number=3):
    folder = tmp_path / f"copy-{number}"
    shutil.copytree(chain / f"request-{number}", folder)
    return folder


def next_request(folder, owned, digits, tmp_path, **options):
    """Request 4 (u04) on `folder`: refused before any work, or run."""
    args = config(tmp_path / "next", forget_where={"owner": ["u04"]}, **options)
    return UnlearningTrainer(model=str(folder), args=args, train_dataset=owned, eval_dataset=digits["test"])


def ledger(folder):
    return json.loads((folder / "unlearning_ledger.json").read_text())


def write(folder, data):
    (folder / "unlearning_ledger.json").write_text(json.dumps(data))


def test_an_intact_chain_is_accepted_and_keeps_every_earlier_request_out(chain, owned, digits, tmp_path):
    entries = ledger(chain / "request-3")["requests"]
    assert [e["request"] for e in entries] == [1, 2, 3] and entries[0]["previous_entry_sha256"] is None
    assert all(b["previous_entry_sha256"] == a["entry_sha256"] for a, b in zip(entries, entries[1:], strict=False))
    trainer = next_request(chain / "request-3", owned, digits, tmp_path)
    earlier = {i for i, o in enumerate(owned["owner"]) if o in ("u01", "u02", "u03")}
    assert not earlier & set(trainer.retain_indices.tolist())


@pytest.mark.parametrize("tamper, says", [
    (lambda f: write(f, [1, 2, 3]), "is list, not a ledger"),
    (lambda f: (f / "unlearning_ledger.json").write_text("{not json"), "is not valid JSON"),
    (lambda f: write(f, {**ledger(f), "requests": [e for e in ledger(f)["requests"] if e["request"] != 2]}),
     "numbered 3"),
    (lambda f: write(f, {**ledger(f), "requests": [
        {**e, "metrics": {**e["metrics"], "unlearned": {**e["metrics"]["unlearned"], "forget_accuracy": 0.0}}}
        if e["request"] == 1 else e for e in ledger(f)["requests"]]}), "request 1's content does not match"),
])
def test_a_broken_ledger_is_refused_before_any_work_naming_the_break_and_the_fix(chain, owned, digits, tmp_path,
                                                                                 tamper, says):
    folder = copy_of(chain, tmp_path)
    tamper(folder)
    with pytest.raises(LedgerError, match=says) as err:
        next_request(folder, owned, digits, tmp_path)
    assert "ledger_override" in str(err.value) and "Restore" in str(err.value)
    assert not (tmp_path / "next").exists() or not any((tmp_path / "next").iterdir())


def test_weights_that_are_not_the_last_requests_output_are_refused(chain, owned, digits, tmp_path, trained_model_dir):
    folder = copy_of(chain, tmp_path)
    shutil.copy(f"{trained_model_dir}/model.safetensors", folder / "model.safetensors")  # the original's weights
    with pytest.raises(LedgerError, match="weights .* are not the output of the ledger's last request"):
        next_request(folder, owned, digits, tmp_path)


def test_a_lost_history_is_refused_not_treated_as_a_fresh_model(chain, owned, digits, tmp_path):
    folder = copy_of(chain, tmp_path)
    (folder / "unlearning_ledger.json").unlink()
    (folder / "forget_set.json").unlink()
    with pytest.raises(LedgerError, match="no unlearning_ledger.json: its history is lost"):
        next_request(folder, owned, digits, tmp_path)


def test_a_specification_swapped_for_another_requests_is_refused(chain, owned, digits, tmp_path):
    folder = copy_of(chain, tmp_path)
    record = json.loads((folder / "forget_set.json").read_text())
    record["earlier"][0] = record["earlier"][1]  # request 1's specification replaced by request 2's
    (folder / "forget_set.json").write_text(json.dumps(record))
    with pytest.raises(ForgetSetError, match="request 1 of"):
        next_request(folder, owned, digits, tmp_path)


def test_an_override_with_a_reason_goes_on_and_says_so_in_the_ledger_and_the_card(chain, owned, digits, tmp_path):
    folder = copy_of(chain, tmp_path)
    (folder / "unlearning_ledger.json").write_text("[1, 2, 3]")
    reason = "ledger overwritten by a script on 2026-12-01; requests 1-3 re-applied below by hand"
    trainer = next_request(folder, owned, digits, tmp_path, ledger_override=reason,
                           previous_forget_sets=[str(chain / "request-3")])
    trainer.unlearn()
    entry = ledger(tmp_path / "next")["requests"][-1]
    assert entry["ledger_override"]["reason"] == reason and "is list, not a ledger" in entry["ledger_override"]["problems"][0]
    card = (tmp_path / "next" / "README.md").read_text()
    assert "went on although the model's history did not hold" in card and reason in card


def test_verify_passes_on_an_intact_model_and_names_the_break_on_a_tampered_copy(chain, tmp_path, capsys):
    assert main(["verify", str(chain / "request-3")]) == 0
    out = capsys.readouterr().out
    assert "3 deletion request(s)" in out and "OK:" in out and "= the last request's output" in out
    assert "specifications: 3 of 3 present and matching" in out
    folder = copy_of(chain, tmp_path)
    entries = ledger(folder)["requests"]
    entries[1]["counts"]["forget"] = 1  # request 2 now claims fewer rows
    write(folder, {"format": 2, "requests": entries})
    assert main(["verify", str(folder)]) == 1
    assert "BROKEN: request 2's content does not match its digest" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------- inputs as people send them
def test_a_windows_excel_csv_is_read_and_binary_junk_is_named(tmp_path):
    from hf_unlearn.forget.match import read_forget_file

    excel = tmp_path / "request.csv"
    excel.write_bytes("\ufeffowner\r\nu03\r\nu07\r\n".encode())
    assert read_forget_file(str(excel)) == ("owner", ["u03", "u07"])
    junk = tmp_path / "ids.txt"
    junk.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(ForgetSetError, match=r"ids.txt' is not UTF-8 text .* saved as UTF-8"):
        read_forget_file(str(junk))


@pytest.mark.parametrize("rows", [np.array([3, 5, 8]), (3, 5, 8), range(3, 9, 2)])
def test_row_numbers_as_numpy_tuple_or_range_are_accepted(rows, tmp_path):
    config = UnlearningConfig(str(tmp_path), forget_indices=rows)
    assert config.forget_indices == [int(r) for r in rows]


def test_a_file_where_row_numbers_belong_points_to_forget_file(tmp_path, capsys):
    (tmp_path / "ids.txt").write_text("u03\n")
    assert main(["run", "--forget_indices", str(tmp_path / "ids.txt"), "--output_dir", str(tmp_path / "o")]) == 2
    assert f"--forget_file {tmp_path / 'ids.txt'} reads a file" in capsys.readouterr().err
    with pytest.raises(ForgetSetError, match="a file: forget_indices takes row numbers"):
        UnlearningConfig(str(tmp_path / "o"), forget_indices=["ids.txt"])


def test_a_jpeg_with_a_damaged_tail_is_named_by_row_before_any_work(digits):
    """Zeroed from its scan header on, a JPEG still passes PIL's structure check (verify) but cannot be decoded:
    the training set's check decodes every image, so the row is named before any work, not mid-run."""
    import io

    from datasets import Dataset
    from datasets import Image as ImageFeature
    from PIL import Image

    from hf_unlearn.data import DataError, check_images
    from hf_unlearn.image_modes import image_problem

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    good = buffer.getvalue()
    damaged = bytearray(good)
    scan = good.find(b"\xff\xda")
    damaged[scan:] = bytes(len(good) - scan)
    with Image.open(io.BytesIO(bytes(damaged))) as img:
        img.verify()  # the structure check alone lets it through
    assert image_problem(good) is None and image_problem(bytes(damaged)) == "corrupt"
    rows = Dataset.from_dict({"image": [{"bytes": good, "path": None}] * 3 + [{"bytes": bytes(damaged), "path": None}],
                              "label": [0, 1, 2, 3]}).cast_column("image", ImageFeature())
    with pytest.raises(DataError, match=r"\b3\b"):
        check_images(rows)
