"""Deletion requests as people make them, on real digits with an owner column: by id value (`forget_where`), by
image (`forget_images`), by file (`forget_file`) and by filter (`forget_filter`); the request ledger across two
sequential requests; the card's names for data and model; and the errors (no match, unknown column, partial
image match, a request repeating a forgotten row)."""

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard
from PIL import Image

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.errors import ForgetSetError
from hf_unlearn.forget import ForgetSet
from hf_unlearn.forget.images import pixel_digest

from .test_publish import LocalHub

OWNERS = 30


@pytest.fixture(scope="module")
def owned(digits):
    """The digits training split with the columns a real dataset has: an owner id, a source and a year."""
    n = len(digits["train"])
    train = digits["train"].add_column("owner", [f"u{i % OWNERS:02d}" for i in range(n)])
    train = train.add_column("source", ["scraped" if i % 7 == 0 else "licensed" for i in range(n)])
    return train.add_column("year", [2015 + i % 10 for i in range(n)])


def rows_of(dataset, column, value):
    return [i for i, v in enumerate(dataset[column]) if v == value]


def config(out, **forget):
    return UnlearningConfig(str(out), method="finetune", seed=0, use_cpu=True, disable_tqdm=True, max_steps=4,
                            learning_rate=0.01, per_device_train_batch_size=32, eval_retain_samples=200,
                            logging_steps=1000, num_retain_samples=200, **forget)


def run(model, out, train, test, **kwargs):
    forget = {k: v for k, v in kwargs.items() if k.startswith(("forget_", "previous_", "card_"))}
    trainer = UnlearningTrainer(model=model, args=config(out, **forget), train_dataset=train, eval_dataset=test,
                                dataset_name=kwargs.get("dataset_name"), reference_model=kwargs.get("reference"))
    return trainer, trainer.unlearn()


def published_text(folder):
    """Everything a push would publish that is text: card, report, ledger."""
    return "".join(Path(folder, name).read_text() for name in ("README.md", "unlearning_report.json",
                                                               "unlearning_ledger.json"))


def save_images(dataset, rows, folder, fmt="BMP"):
    """Training images re-encoded (another format, no metadata): what a person sends back."""
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        dataset[row]["image"].save(folder / f"img_{row}.{fmt.lower()}", format=fmt)
    return folder


# ---------------------------------------------------------------------------------------------- by id value
@pytest.fixture(scope="module")
def first_request(tmp_path_factory, trained_model_dir, owned, digits):
    from transformers import AutoModelForImageClassification

    out = tmp_path_factory.mktemp("request1")
    reference = AutoModelForImageClassification.from_pretrained(trained_model_dir)  # stands in for a retrained model
    data = tmp_path_factory.mktemp("owned-digits")  # where the user keeps the data: never published
    trainer, result = run(trained_model_dir, out, owned, digits["test"], forget_where={"owner": ["u03", "u07"]},
                          dataset_name=str(data), reference=reference, card_dataset="sklearn/digits",
                          card_base_model="my-org/digits-resnet")
    trainer.data_folder = str(data)
    return trainer, result, out


def test_forget_where_forgets_exactly_the_owners_rows(first_request, owned):
    trainer, result, _ = first_request
    wanted = sorted(rows_of(owned, "owner", "u03") + rows_of(owned, "owner", "u07"))
    assert trainer.forget_indices.tolist() == wanted
    assert result.counts["forget"] == len(wanted) and result.counts["retain"] == len(owned) - len(wanted)
    assert result.forget_set["kind"] == "where" and result.forget_set["where"] == {"owner": ["u03", "u07"]}


def test_person_level_request_reports_each_group_against_the_reference(first_request, owned):
    _, result, out = first_request
    assert [g["images"] for g in result.groups] == [len(rows_of(owned, "owner", v)) for v in ("u03", "u07")]
    for group in result.groups:
        assert set(group["models"]) == {"original", "retrained", "unlearned"}
        assert 0 <= group["models"]["unlearned"]["accuracy"] <= 100 and "mia_auc" in group["models"]["unlearned"]
    card = Path(out, "README.md").read_text()
    assert "Group by group" in card and card.count("\n| 1 | ") + card.count("\n| 2 | ") >= 2


def test_no_id_value_or_local_path_is_published(first_request):
    trainer, _, out = first_request
    text = published_text(out)
    for secret in ("u03", "u07", trainer.data_folder):
        assert secret not in text
    data = ModelCard.load(Path(out, "README.md")).data
    assert data.base_model == "my-org/digits-resnet"
    types = {r.dataset_type for r in data.eval_results}
    assert types == {"sklearn/digits"}


def test_the_ledger_records_the_request_without_ids(first_request, owned):
    trainer, result, out = first_request
    ledger = json.loads(Path(out, "unlearning_ledger.json").read_text())["requests"]
    assert len(ledger) == 1
    entry = ledger[0]
    assert entry["request"] == 1 and entry["kind"] == "where" and entry["method"] == "finetune"
    assert entry["counts"]["forget"] == result.counts["forget"] and entry["counts"]["groups"] == 2
    assert entry["spec_sha256"] == trainer.forget_set.spec_hash()
    assert entry["previous_model_sha256"] == trainer.input_model["weights_sha256"]
    assert entry["model_sha256"] != entry["previous_model_sha256"]
    assert entry["metrics"]["unlearned"]["forget_accuracy"] == round(result.metrics["unlearned"]["forget_accuracy"], 4)
    assert entry["base_model"] == "my-org/digits-resnet"
    card = Path(out, "README.md").read_text()
    assert "Deletion requests applied to this model" in card


# ---------------------------------------------------------------------------------------------- sequential, ledger
@pytest.fixture(scope="module")
def second_request(tmp_path_factory, first_request, owned, digits):
    _, _, out1 = first_request
    sent = save_images(owned, rows_of(owned, "owner", "u05"), tmp_path_factory.mktemp("sent") / "u05")
    out2 = tmp_path_factory.mktemp("request2")
    trainer, result = run(str(out1), out2, owned, digits["test"], forget_images=[str(sent)])
    return trainer, result, out1, out2


def test_a_second_request_reads_the_ledger_and_extends_it(second_request, owned):
    trainer, result, out1, out2 = second_request
    first = set(rows_of(owned, "owner", "u03") + rows_of(owned, "owner", "u07"))
    assert set(trainer.forget_indices.tolist()) >= set(rows_of(owned, "owner", "u05"))
    assert first.isdisjoint(trainer.retain_indices.tolist())  # the first request's rows stay out
    assert result.counts["retain"] == len(owned) - len(first) - result.counts["forget"]
    ledger = json.loads(Path(out2, "unlearning_ledger.json").read_text())["requests"]
    assert [e["request"] for e in ledger] == [1, 2] and [e["kind"] for e in ledger] == ["where", "images"]
    assert ledger[1]["previous_model_sha256"] == ledger[0]["model_sha256"] and ledger[1]["follows_previous_model"]
    assert ledger[1]["base_model"] == "my-org/digits-resnet"  # the original, named once in request 1
    assert ledger[1]["counts"]["images_matched"] == ledger[1]["counts"]["images_given"]
    card = Path(out2, "README.md").read_text()
    assert "\n| 1 | " in card and "\n| 2 | " in card and "u05" not in published_text(out2)
    earlier = json.loads(Path(out2, "forget_set.json").read_text())["earlier"]
    assert [e["sha256"] for e in earlier] == [ledger[0]["spec_sha256"]]


def test_repeating_a_forgotten_row_is_refused(first_request, owned, digits, tmp_path):
    _, _, out1 = first_request
    with pytest.raises(ForgetSetError, match="already forgotten by earlier request 1"):
        run(str(out1), tmp_path / "again", owned, digits["test"], forget_where={"owner": ["u03"]})
    assert not (tmp_path / "again" / "unlearning_ledger.json").exists()


def test_a_model_from_the_hub_needs_the_earlier_specifications(first_request, owned, digits, tmp_path):
    """A published model folder carries the ledger (hashes) but not `forget_set.json`."""
    _, _, out1 = first_request
    hub = LocalHub(tmp_path / "hub")
    from hf_unlearn.publish import push_folder

    push_folder(str(out1), "me/digits-unlearned", api=hub)
    pushed = tmp_path / "hub" / "me/digits-unlearned"
    assert (pushed / "unlearning_ledger.json").exists() and not (pushed / "forget_set.json").exists()
    ledger = json.loads((pushed / "unlearning_ledger.json").read_text())["requests"]
    assert ledger[-1]["published"][0]["repo_id"] == "me/digits-unlearned"
    with pytest.raises(ForgetSetError, match="lists 1 earlier deletion request"):
        run(str(pushed), tmp_path / "o1", owned, digits["test"], forget_where={"owner": ["u09"]})
    other = tmp_path / "other.json"
    other.write_text(json.dumps(ForgetSet.from_where({"owner": ["u11"]}).to_dict()))
    with pytest.raises(ForgetSetError, match="whose specification is not here"):
        run(str(pushed), tmp_path / "o2", owned, digits["test"], forget_where={"owner": ["u09"]},
            previous_forget_sets=[str(other)])
    trainer, _ = run(str(pushed), tmp_path / "o3", owned, digits["test"], forget_where={"owner": ["u09"]},
                     previous_forget_sets=[str(out1 / "forget_set.json")])
    assert set(rows_of(owned, "owner", "u03")).isdisjoint(trainer.retain_indices.tolist())


# ---------------------------------------------------------------------------------------------- by image
def test_images_match_by_pixels_whatever_the_encoding(owned, tmp_path):
    rows = rows_of(owned, "owner", "u12")[:3]
    folder = save_images(owned, rows[:2], tmp_path / "sent", "BMP")
    png = io.BytesIO()
    owned[rows[2]]["image"].convert("RGB").save(png, format="PNG", compress_level=1)  # other mode and compression
    (folder / "third.png").write_bytes(png.getvalue())
    spec = ForgetSet.from_images(str(folder))
    resolved = spec.resolve(len(owned), None, None, owned)
    same = [i for i in range(len(owned)) if pixel_digest(owned[i]["image"]) in spec.image_digests]
    assert set(rows) <= set(resolved.rows.tolist()) and resolved.rows.tolist() == same
    assert resolved.matched == {"images_given": 3, "images_matched": 3, "images_unmatched": 0}


def test_images_given_as_a_dataset_or_its_parquet_file(owned, tmp_path):
    rows = rows_of(owned, "owner", "u15")
    sent = owned.select(rows).select_columns(["image"])
    sent.to_parquet(str(tmp_path / "sent.parquet"))
    for given in (sent, str(tmp_path / "sent.parquet")):
        resolved = ForgetSet.from_images(given).resolve(len(owned), None, None, owned)
        assert set(rows) <= set(resolved.rows.tolist()) and resolved.matched["images_matched"] == len(set(
            pixel_digest(owned[i]["image"]) for i in rows))


def test_unmatched_images_are_listed_and_refused_unless_partial(owned, tmp_path):
    rows = rows_of(owned, "owner", "u13")[:2]
    folder = save_images(owned, rows, tmp_path / "sent")
    changed = np.array(owned[rows[0]]["image"]).copy()
    changed[0, 0] = (int(changed[0, 0]) + 1) % 256
    Image.fromarray(changed).save(folder / "edited.png")  # one pixel differs: another image
    owned[rows[1]]["image"].convert("RGB").resize((16, 16)).save(folder / "resized.png")
    with pytest.raises(ForgetSetError, match=r"2 of the 4 images match no training row.*edited\.png.*resized\.png"
                                             r".*forget_images_partial"):
        ForgetSet.from_images(str(folder)).resolve(len(owned), None, None, owned)
    resolved = ForgetSet.from_images(str(folder), allow_partial=True).resolve(len(owned), None, None, owned)
    assert set(rows) <= set(resolved.rows.tolist())
    assert resolved.matched == {"images_given": 4, "images_matched": 2, "images_unmatched": 2}
    with pytest.raises(ForgetSetError, match="1 of the 1 images match no training row"):  # partial, but none
        ForgetSet.from_images([str(folder / "edited.png")], True).resolve(len(owned), None, None, owned)


def test_a_lossy_copy_is_not_the_same_image(owned, tmp_path):
    row = rows_of(owned, "owner", "u14")[0]
    owned[row]["image"].convert("RGB").resize((64, 64)).save(tmp_path / "big.png")
    image = np.array(owned[row]["image"].convert("RGB").resize((64, 64)))
    Image.fromarray(image).save(tmp_path / "copy.jpg", quality=30)
    assert pixel_digest((tmp_path / "big.png").read_bytes()) != pixel_digest((tmp_path / "copy.jpg").read_bytes())


def test_a_file_that_is_no_image_is_named(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ForgetSetError, match="notes.png cannot be read as an image"):
        ForgetSet.from_images(str(tmp_path))


# ---------------------------------------------------------------------------------------------- by file, by filter
def test_forget_files_in_every_format(owned, tmp_path):
    wanted = sorted(rows_of(owned, "owner", "u01") + rows_of(owned, "owner", "u02"))
    (tmp_path / "ids.txt").write_text("# deletion request 42\nu01\n\nu02  # second person\n")
    (tmp_path / "ids.csv").write_text("name,owner\nAnn,u01\nBob,u02\n")
    (tmp_path / "ids.json").write_text(json.dumps({"owner": ["u01", "u02"]}))
    (tmp_path / "rows.json").write_text(json.dumps(wanted))
    for name, column in (("ids.txt", "owner"), ("ids.csv", "owner"), ("ids.json", None), ("rows.json", None)):
        spec = ForgetSet.from_file(str(tmp_path / name), column)
        assert spec.forget_indices(len(owned), None, None, owned).tolist() == wanted, name
    with pytest.raises(ForgetSetError, match="columns \\['name', 'owner'\\]: name the one"):
        ForgetSet.from_file(str(tmp_path / "ids.csv"))
    with pytest.raises(ForgetSetError, match="'u01'\\) is not a row index.*--forget_file_column user_id"):
        ForgetSet.from_file(str(tmp_path / "ids.txt"))
    with pytest.raises(ForgetSetError, match="does not exist"):
        ForgetSet.from_file(str(tmp_path / "missing.txt"))


def test_filters_select_rows_by_any_column(owned):
    spec = ForgetSet.from_filter('source == "scraped" and year < 2018')
    expected = [i for i in range(len(owned)) if i % 7 == 0 and 2015 + i % 10 < 2018]
    assert spec.forget_indices(len(owned), None, None, owned).tolist() == expected
    spec = ForgetSet.from_filter("owner in ['u01', 'u02'] or not year != 2024")
    expected = [i for i in range(len(owned)) if i % OWNERS in (1, 2) or 2015 + i % 10 == 2024]
    assert spec.forget_indices(len(owned), None, None, owned).tolist() == expected


@pytest.mark.parametrize("expression, message", [
    ("__import__('os').system('true')", "uses Call"),
    ("owner.size == 1", "uses Attribute"),
    ("owner ==", "not a valid filter"),
    ("uploader == 'u01'", "no column 'uploader'"),
    ("owner == 'nobody'", "selects no training row"),
])
def test_bad_filters_are_refused(owned, expression, message):
    with pytest.raises(ForgetSetError, match=message):
        ForgetSet.from_filter(expression).forget_indices(len(owned), None, None, owned)


# ---------------------------------------------------------------------------------------------- errors, first
def test_values_that_match_nothing_and_unknown_columns_are_named(owned):
    with pytest.raises(ForgetSetError, match=r"1 value\(s\) match no training row: owner='u99'"):
        ForgetSet.from_where({"owner": ["u01", "u99"]}).forget_indices(len(owned), None, None, owned)
    with pytest.raises(ForgetSetError, match="no column 'ownr'.*did you mean 'owner'"):
        ForgetSet.from_where({"ownr": ["u01"]}).forget_indices(len(owned), None, None, owned)
    with pytest.raises(ForgetSetError, match="is the image column: to forget given images use forget_images"):
        ForgetSet.from_where({"image": ["x"]}).forget_indices(len(owned), None, None, owned)
    with pytest.raises(ForgetSetError, match="value 'abc' cannot be a value of that column"):
        ForgetSet.from_where({"year": ["abc"]}).forget_indices(len(owned), None, None, owned)
    assert ForgetSet.from_where({"year": ["2016"]}).forget_indices(len(owned), None, None, owned).tolist() == [
        i for i in range(len(owned)) if 2015 + i % 10 == 2016]  # ids read as text match an integer column


def test_a_bad_request_fails_before_any_work_and_writes_nothing(trained_model_dir, owned, digits, tmp_path):
    with pytest.raises(ValueError, match="exactly one of .*forget_where.*; got 2 \\(forget_classes, forget_where\\)"):
        config(tmp_path / "o", forget_where={"owner": ["u01"]}, forget_classes=["3"])
    with pytest.raises(ForgetSetError, match="owner='u99'"):
        run(trained_model_dir, tmp_path / "out", owned, digits["test"], forget_where={"owner": ["u99"]})
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_forget_where_from_the_command_line(trained_model_dir, owned, digits, tmp_path):
    """A person-level request through `hf-unlearn run`, the JSON mapping given on the command line."""
    from hf_unlearn.cli import main

    data = tmp_path / "data"
    data.mkdir()
    owned.to_parquet(str(data / "train.parquet"))
    test = digits["test"]
    for column, value in (("owner", "t00"), ("source", "licensed"), ("year", 2020)):  # the same columns as train
        test = test.add_column(column, [value] * len(test))
    test.to_parquet(str(data / "test.parquet"))
    out = tmp_path / "out"
    main(["run", "--model_name_or_path", trained_model_dir, "--dataset_name", str(data), "--output_dir", str(out),
          "--method", "finetune", "--max_steps", "2", "--use_cpu", "true", "--num_retain_samples", "100",
          "--forget_where", '{"owner": ["u04"]}', "--card_dataset", "sklearn/digits"])
    results = json.loads((out / "unlearning_results.json").read_text())
    assert results["counts"]["forget"] == len(rows_of(owned, "owner", "u04"))
    card = (out / "README.md").read_text()
    metadata = card.split("\n---\n")[0]  # the model-index the Hub renders
    assert str(data) not in metadata and "type: sklearn/digits" in metadata
    assert "| training data | sklearn/digits |" in card
    shutil.rmtree(out)


def test_a_published_card_is_renamed_from_its_report(first_request, tmp_path):
    """`hf-unlearn card FOLDER --card_dataset ID` on a folder holding only what was published (card, report,
    ledger, evidence): the model-index then names the Hub dataset; nothing else is lost."""
    from hf_unlearn.cli import main

    _, _, out = first_request
    folder = tmp_path / "published"
    folder.mkdir()
    for name in ("README.md", "unlearning_report.json", "unlearning_ledger.json"):
        shutil.copyfile(out / name, folder / name)
    shutil.copytree(out / "evidence", folder / "evidence")
    main(["card", str(folder), "--card_dataset", "my-org/digits-with-owners", "--card_base_model", "my-org/base"])
    data = ModelCard.load(folder / "README.md").data
    assert {r.dataset_type for r in data.eval_results} == {"my-org/digits-with-owners"}
    assert data.base_model == "my-org/base"
    card = (folder / "README.md").read_text()
    assert "Group by group" in card and "Deletion requests applied to this model" in card
    assert "roc_curves.png" in card and "u03" not in card


def test_a_failed_push_leaves_the_ledger_as_it_was(first_request, tmp_path):
    from hf_unlearn.errors import HubError
    from hf_unlearn.publish import push_folder

    _, _, out = first_request
    before = Path(out, "unlearning_ledger.json").read_text()

    class Unreachable(LocalHub):
        def upload_folder(self, *args, **kwargs):
            raise ConnectionError("no network")

    with pytest.raises(HubError, match="Could not reach the Hub"):
        push_folder(str(out), "me/digits", api=Unreachable(tmp_path))
    assert Path(out, "unlearning_ledger.json").read_text() == before
