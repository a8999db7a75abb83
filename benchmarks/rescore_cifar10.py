"""Score saved CIFAR-10 models again with every current metric (SalUn's MIA-efficacy and Avg Gap included).

Rebuilds the forget set and evaluation sets of recipes/cifar10-resnet10-cpu/multigan.yaml and scores the
original, the retrained reference and each given unlearned model folder alike:

    python benchmarks/rescore_cifar10.py outputs/cifar10-resnet10-cpu/multigan outputs/cifar10-resnet10-cpu/variants/*/
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import yaml
from transformers import AutoModelForImageClassification

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.data import load_image_dataset
from hf_unlearn.evaluation import avg_gap

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "cifar10-resnet10-cpu" / "multigan.yaml"
COLUMNS = ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_score", "mia_efficacy")


def main(base: str, runs: list[str]) -> None:
    recipe = yaml.safe_load(RECIPE.read_text())
    train = load_image_dataset(recipe["dataset_name"], split="train").select(range(recipe["max_train_samples"]))
    test = load_image_dataset(recipe["dataset_name"], split="test")
    config = UnlearningConfig(tempfile.mkdtemp(), forget_fraction=recipe["forget_fraction"],
                              forget_seed=recipe["forget_seed"], seed=recipe["seed"], use_cpu=True, disable_tqdm=True,
                              eval_retain_samples=recipe["eval_retain_samples"])
    trainer = UnlearningTrainer(model=f"{base}/original", args=config, train_dataset=train, eval_dataset=test)
    reference = trainer.score_model(AutoModelForImageClassification.from_pretrained(f"{base}/retrained"))
    rows = [("original (do nothing)", trainer.score_model()), ("retrained (reference)", reference)]
    rows += [(Path(r).name, trainer.score_model(AutoModelForImageClassification.from_pretrained(r))) for r in runs]
    print("| model | forget acc | retain acc | test acc | MIA | MIA-eff | Avg Gap |")
    print("|---|---|---|---|---|---|---|")
    for name, m in rows:
        cells = [f"{m[k]:.3f}" if k == "mia_score" else f"{m[k]:.2f}" for k in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + f" | {avg_gap(m, reference):.2f} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
