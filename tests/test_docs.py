"""The documentation a user reads first: README stays short, every relative link resolves, the methods page is the
registry's, CI runs the README's test command, and every subcommand answers `--help` and refuses an unknown option."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hf_unlearn.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_the_readme_stays_a_front_page():
    """README: what it does, the two commands, the headline table, the API, links (the guides live in docs/)."""
    lines = README.read_text().splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines; move detail into a guide under docs/"
    text = README.read_text()
    assert "## Two commands" in text and "hf-unlearn quickstart" in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # links inside code blocks are not links
    broken = []
    for target in LINK.findall(text):
        if re.match(r"(https?:|mailto:|#)", target):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: links to missing files: {broken}"


def test_the_docs_index_links_every_guide():
    """Every page under docs/ (not the benchmark pages, which BENCHMARKS.md links) is reachable from the README."""
    text = README.read_text()
    missing = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if f"docs/{p.name}" not in text]
    assert not missing, f"README.md links no guide {missing}"


def test_the_methods_page_is_the_registrys():
    from hf_unlearn.methods.registry import describe_methods_markdown

    page = (ROOT / "docs" / "methods.md").read_text()
    assert page == describe_methods_markdown(), "regenerate: hf-unlearn methods --markdown > docs/methods.md"


def test_ci_runs_the_readmes_test_command():
    commands = re.findall(r"```bash\n(HF_HUB_OFFLINE=1 python -m pytest[^\n]*)\n```", README.read_text())
    assert len(commands) == 1, commands
    assert commands[0] in (ROOT / ".ci" / "run").read_text().splitlines()


def _subcommands(capsys) -> list[str]:
    with pytest.raises(SystemExit) as ended:
        main(["--help"])
    assert ended.value.code == 0
    choices = re.search(r"\{([a-z_,]+)\}", capsys.readouterr().out)
    assert choices, "hf-unlearn --help lists no subcommands"
    return choices.group(1).split(",")


def test_every_subcommand_answers_help(capsys):
    names = _subcommands(capsys)
    assert {"quickstart", "run", "prepare", "benchmark", "audit", "methods", "card", "push", "verify"} <= set(names)
    for name in names:
        try:
            code = main([name, "--help"])
        except SystemExit as ended:
            code = ended.code
        out = capsys.readouterr()
        assert code == 0, (name, out.err[-2000:])
        assert out.out.startswith(f"usage: hf-unlearn {name}"), (name, out.out[:200])


def test_every_subcommand_refuses_an_unknown_option(capsys, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"dataset_name": "x", "forget_classes": ["3"]}))
    for name in _subcommands(capsys):
        positional = {"run": [str(recipe)], "prepare": [str(recipe)], "benchmark": [str(recipe)],
                      "audit": [str(recipe)], "card": [str(tmp_path)], "push": [str(tmp_path), "--repo_id", "a/b"],
                      "verify": [str(tmp_path)]}.get(name, [])
        try:
            code = main([name, *positional, "--no_such_option", "1"])
        except SystemExit as ended:
            code = ended.code
        err = capsys.readouterr().err
        assert code == 2, (name, err[-2000:])
        assert "--no_such_option" in err, (name, err[-2000:])


def test_the_adding_a_method_example_runs(trained_model_dir, digits, tmp_path, monkeypatch):
    """docs/adding-a-method.md's example, run as written on the digits (the user's model and data swapped in)."""
    from hf_unlearn.methods.registry import _METHODS

    page = (ROOT / "docs" / "adding-a-method.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(blocks) == 1
    code = blocks[0].replace('forget_fraction=0.1)', 'forget_fraction=0.1, use_cpu=True, disable_tqdm=True, '
                                                      'report_to="none", num_train_epochs=1)')
    assert code != blocks[0]
    monkeypatch.chdir(tmp_path)
    scope = {"model": trained_model_dir, "train": digits["train"], "test": digits["test"]}
    try:
        exec(compile(code, "adding-a-method.md", "exec"), scope)
    finally:
        _METHODS.pop("uniform", None)
    result = scope["result"]
    assert (tmp_path / "out" / "uniform" / "model.safetensors").is_file()
    assert result.method == "uniform" and "forget_accuracy" in result.metrics["unlearned"]
