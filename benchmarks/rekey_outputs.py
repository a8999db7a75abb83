"""Carry a benchmark's finished runs over to content-based data keys, after checking the data is the same.

Until issue 15, a data split entered a run's key as its `datasets` fingerprint, which follows the data files'
paths and modification times: the same CIFAR-10 parquet files provisioned again (as `../shared` is, every
session) made every key stale, and a rerun would have trained every original, reference and run again. Keys
now hold the SHA-256 of the split's content (`benchmark_keys.fingerprint`). This script rewrites the keys of
an existing output folder once:

1. loads the recipe's data and computes the content digests of its training and test (or validation) splits;
2. checks the data is what the runs were trained on: every finished run's recorded `data_sha256` (the trainer's
   digest of the training set it was given) must equal the training digest now, and every run must have scored
   as many test rows as the split has now; it refuses otherwise, and changes nothing;
3. checks every stored key is the hash of its stored payload (a hand-edited key file is refused);
4. replaces the old fingerprints by the digests in every payload, recomputes each key, and replaces each old key
   where another payload names it (a run names the key of the original it started from), until nothing changes;
5. with `--write`, writes the new key files (atomically); without, prints what it would do.

    python benchmarks/rekey_outputs.py recipes/cifar10-resnet10-64px-cpu/benchmark.yaml --write

A rerun of the benchmark afterwards reuses every run (the check that it does: it prints no "recipe changed").
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from hf_unlearn import UnlearningConfig
from hf_unlearn.commands.arguments import parse_recipe
from hf_unlearn.commands.benchmark import Benchmark, BenchmarkArguments
from hf_unlearn.commands.benchmark_keys import KEY_FILE, artefact_key, canonical_json
from hf_unlearn.constants import RESULTS_FILE
from hf_unlearn.safety import write_json_atomic


def key_files(root: str) -> dict[str, dict]:
    """folder -> its stored {"key", "payload"}, for every finished artefact under `root`."""
    found = {}
    for folder, _, files in os.walk(root):
        if KEY_FILE in files:
            with open(os.path.join(folder, KEY_FILE)) as f:
                found[folder] = json.load(f)
    return found


def old_fingerprints(stored: dict[str, dict]) -> tuple[set, set]:
    """The training-split and test-split identities the stored payloads hold."""
    train = {entry["payload"]["data"]["train"] for entry in stored.values() if "data" in entry["payload"]}
    test = {entry["payload"]["evaluation"]["test"] for entry in stored.values() if "evaluation" in entry["payload"]}
    return train, test


def check_same_data(stored: dict[str, dict], train_digest: str, test_rows: int) -> list[str]:
    """Problems that show the runs were not made on this data (none: it is the same)."""
    problems = []
    for folder in stored:
        path = os.path.join(folder, RESULTS_FILE)
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            result = json.load(f)
        if result.get("data_sha256") != train_digest:
            problems.append(f"{folder}: trained on data_sha256 {result.get('data_sha256')}, the data is {train_digest}")
        if result.get("counts", {}).get("test") not in (None, test_rows):
            problems.append(f"{folder}: scored {result['counts']['test']} test rows, the split has {test_rows}")
    return problems


def rekey(stored: dict[str, dict], replace: dict[str, str]) -> dict[str, dict]:
    """folder -> {"key", "payload"} with every `replace` old -> new string substituted and every key recomputed
    (old keys named in other payloads follow), to a fixed point."""
    mapping = dict(replace)
    while True:
        out, changed = {}, False
        for folder, entry in stored.items():
            text = canonical_json(entry["payload"])
            for old, new in mapping.items():
                text = text.replace(json.dumps(old), json.dumps(new))
            payload = json.loads(text)
            key = artefact_key(payload)
            if key != entry["key"] and mapping.get(entry["key"]) != key:
                mapping[entry["key"]] = key
                changed = True
            out[folder] = {"key": key, "payload": payload}
        if not changed:
            return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--write", action="store_true", help="write the new keys (else: only say what changes)")
    parser.add_argument("--replace-key", nargs=2, action="append", default=[], metavar=("OLD", "NEW"),
                        help="an artefact made again under a new key (its folder was lost) that you have checked is "
                             "the same (e.g. the same accuracy on the same rows): the runs naming OLD name NEW")
    opts = parser.parse_args(argv)
    args, base = parse_recipe([opts.recipe], (BenchmarkArguments, UnlearningConfig), command="benchmark")
    benchmark = Benchmark(args, base)
    benchmark.load_keyed_data()  # the digests the benchmark itself keys on
    train_digest, test_digest, test = benchmark.train_digest, benchmark.evaluation["test"], benchmark.test
    root = os.path.abspath(base.output_dir)
    stored = key_files(root)
    bad = [folder for folder, entry in stored.items() if artefact_key(entry["payload"]) != entry["key"]]
    if bad:
        print("refused: these key files do not hash to their payload:\n  " + "\n  ".join(bad))
        return 1
    problems = check_same_data(stored, train_digest, len(test))
    old_train, old_test = old_fingerprints(stored)
    if len(old_train) > 1 or len(old_test) > 1:
        problems.append(f"several data identities in one benchmark: train {sorted(old_train)}, test {sorted(old_test)}")
    if problems:
        print("refused, nothing changed:\n  " + "\n  ".join(problems))
        return 1
    replace = ({old: train_digest for old in old_train} | {old: test_digest for old in old_test}
               | dict(map(tuple, opts.replace_key)))
    new = rekey(stored, replace)
    changed = [folder for folder in stored if new[folder]["key"] != stored[folder]["key"]]
    print(f"{len(stored)} finished artefacts under {root}; data checked (training digest {train_digest[:16]}..., "
          f"{len(test)} test rows); {len(changed)} keys change")
    for folder in changed:
        print(f"  {os.path.relpath(folder, root)}: {stored[folder]['key']} -> {new[folder]['key']}")
    if opts.write:
        for folder in changed:
            write_json_atomic(os.path.join(folder, KEY_FILE), new[folder])
        print("written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
