"""Names shared across the package: the version, the files an unlearning run writes, the sources of the
fine-tuning set. A leaf: it imports nothing, so any module may read it."""

__version__ = "0.1.0"

#: What an unlearning run writes into its output folder.
RESULTS_FILE = "unlearning_results.json"  # metrics, timings, full config (stays local: holds forget ids)
FORGET_SET_FILE = "forget_set.json"  # the forget-set specification and its SHA-256 (stays local)
REPORT_FILE = "unlearning_report.json"  # the redacted results, published beside the card
LEDGER_FILE = "unlearning_ledger.json"  # every deletion request applied to the model: hashes, counts, metrics (published)
EVIDENCE_DIR = "evidence"  # plots linked from the card
GENERATORS_DIR = "generators"  # Multi-GAN's generators (diffusers models)
RESUME_KEY_FILE = "_resume_key.json"  # where versions <= 0.1 kept the resume key (now inside each checkpoint)

#: Tags of every card hf-unlearn writes (the method's name is added).
CARD_TAGS = ("hf-unlearn", "machine-unlearning", "image-classification")

#: Row sources of the fine-tuning dataset, in concatenation order.
SOURCES = ("retain", "forget", "synthetic_retain", "synthetic_forget")
#: A fine-tuning-set column a method may add and read back in its loss: an integer per row (-1: none), e.g.
#: which adversarial example an `amun` row stands for.
AUX_INDEX = "aux_index"
#: Rows that stand for the forget set (methods treat them apart from the retain rows).
FORGET_SOURCES = ("forget", "synthetic_forget")

#: The stopping rules `stop_when` accepts (stopping.py runs them).
STOP_RULES = ("indistinguishable",)

#: How a model may have been trained (`training_augmentation`), and how CoUn's views may be made: "none", "flip"
#: (random left-right flips), "crop_flip" (a random crop of the padded image, then a random flip).
TRAINING_AUGMENTATIONS = ("none", "flip", "crop_flip")
