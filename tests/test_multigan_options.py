"""Multi-GAN's options live in `method_args` like every method's (issue 29): one declaration each (help, range,
choices), the old top-level names still accepted for one release with a FutureWarning naming the new spelling,
and benchmark keys of runs made before the move unchanged."""

import warnings

import pytest
import yaml

from hf_unlearn import UnlearningConfig
from hf_unlearn.commands.arguments import parse_recipe
from hf_unlearn.commands.benchmark_keys import ArtefactKeys
from hf_unlearn.commands.benchmark_plan import configure, method_variants
from hf_unlearn.gan import GANSettings
from hf_unlearn.methods.multigan_options import (
    LEGACY_OPTIONS,
    MultiGANOptions,
    legacy_values,
    recorded_options,
)
from hf_unlearn.methods.registry import describe_options
from hf_unlearn.options import OptionError

NEW = {"gan": {"epochs": 3, "generator_channels": 8}, "prepared_path": "prep", "adapt_steps": 5,
       "num_synthetic_forget": 7, "label_inversion": "random_other"}
OLD = {"gan_epochs": 3, "gan_generator_channels": 8, "prepared_generator_path": "prep", "gan_adapt_steps": 5,
       "num_synthetic_forget": 7, "label_inversion": "random_other"}


def test_every_old_name_maps_to_an_option_that_exists():
    options = MultiGANOptions()
    for path in LEGACY_OPTIONS.values():
        value = options
        for part in path:
            value = getattr(value, part)  # raises if the path is wrong
    assert set(legacy_values(options)) == set(LEGACY_OPTIONS) and len(LEGACY_OPTIONS) == 16
    assert MultiGANOptions().gan == GANSettings()  # the GAN's settings have one source


def test_old_top_level_names_still_work_and_say_the_new_spelling(tmp_path):
    with pytest.warns(FutureWarning, match=r"gan_epochs -> method_args.gan.epochs.*prepared_generator_path -> "
                                           r"method_args.prepared_path"):
        old = UnlearningConfig(str(tmp_path), forget_fraction=0.1, **OLD)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new spelling warns about nothing
        new = UnlearningConfig(str(tmp_path), forget_fraction=0.1, method_args=NEW)
    assert old.method_options == new.method_options and old.method_args == new.method_args
    assert new.retain_samples_per_forget == 8.0  # the prepared default budget, from the method
    assert not any(hasattr(new, name) for name in LEGACY_OPTIONS)  # no longer config fields


def test_old_names_given_to_another_method_are_ignored_with_a_warning(tmp_path):
    with pytest.warns(FutureWarning, match="method 'salun' does not use them: ignored"):
        config = UnlearningConfig(str(tmp_path), forget_fraction=0.1, method="salun", gan_epochs=3)
    assert config.method_args is None


@pytest.mark.parametrize("method_args, message", [
    ({"gan": {"epochs": 0}}, r"method_args.gan.epochs = 0 is out of range: it must be > 0"),
    ({"gan": {"epoch": 1}}, r"method_args.gan.epoch: not an option here"),
    ({"label_inversion": "flip"}, r"method_args.label_inversion = 'flip' is not one of complement"),
    ({"resolution": 24}, r"method_args.resolution = 24 is out of range: it must be a power of two"),
    ({"prepared_path": "a", "retain_generator_path": "b"}, r"both set"),
])
def test_bad_multigan_options_name_the_option_before_any_work(tmp_path, method_args, message):
    with pytest.raises(OptionError, match=message):
        UnlearningConfig(str(tmp_path / "out"), forget_fraction=0.1, method_args=method_args)
    assert not (tmp_path / "out").exists()


def test_a_recipe_and_a_command_line_in_the_old_spelling_still_run(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "o"), "forget_fraction": 0.1, "gan_epochs": 3,
                                      "num_synthetic_forget": 7, "method_args": {"adapt_steps": 5}}))
    with pytest.warns(FutureWarning, match="gan_epochs -> method_args.gan.epochs"):
        (config,) = parse_recipe([str(recipe), "--gan_epochs", "4", "--gan_batch_size=16"], (UnlearningConfig,))
    options = config.method_options
    assert (options.gan.epochs, options.gan.batch_size, options.num_synthetic_forget, options.adapt_steps) == \
        (4.0, 16, 7, 5)  # the command line over the recipe; the recipe's own method_args kept
    with pytest.warns(FutureWarning):
        (config,) = parse_recipe([str(recipe), "--method_args", '{"adapt_steps": 9}', "--gan_epochs", "2"],
                                 (UnlearningConfig,))
    assert (config.method_options.gan.epochs, config.method_options.adapt_steps) == (2.0, 9)


def test_benchmark_keys_hold_the_old_layout_whichever_spelling(tmp_path):
    """A run's key is computed as before the move: the options under their old top-level names (every method's
    config had them), method_args without them: finished runs are reused, not redone."""
    keys = ArtefactKeys(str(tmp_path), True, print)
    with pytest.warns(FutureWarning):
        old = UnlearningConfig(str(tmp_path / "a"), forget_fraction=0.1, **OLD)
    new = UnlearningConfig(str(tmp_path / "a"), forget_fraction=0.1, method_args=NEW)
    identity = keys.config_identity(new)
    assert identity == keys.config_identity(old)
    assert identity["gan_epochs"] == 3 and identity["prepared_generator_path"] == "prep"
    assert identity["method_args"] is None and identity["gan_latent_dim"] == 100
    # another method's key holds the benchmark base's GAN settings, as its config did
    keys.base_gan = legacy_values(new.method_options)
    salun = keys.config_identity(UnlearningConfig(str(tmp_path / "b"), forget_fraction=0.1, method="salun"))
    assert salun["gan_epochs"] == 3 and salun["method_args"] is None


def test_benchmark_runs_of_a_method_inherit_the_base_method_args_and_grids_reach_nested_options(tmp_path):
    base = UnlearningConfig(str(tmp_path), method_args={"gan": {"epochs": 3}})
    variants = method_variants({"multigan": {"method_args": {"num_synthetic_retain": 0}}, "salun": {}},
                               {"multigan": {"method_args.gan.min_steps": [10, 20]}})
    method, overrides = variants["multigan[min_steps=10]"]
    config = configure(base, str(tmp_path / "m"), 0, method, overrides)
    assert config.method_options.gan.epochs == 3 and config.method_options.gan.min_steps == 10
    assert config.method_options.num_synthetic_retain == 0
    salun = configure(base, str(tmp_path / "s"), 0, "salun", variants["salun"][1])
    assert salun.method_args is None  # Multi-GAN's options never reach another method


def test_the_card_reads_the_options_in_either_spelling():
    old = recorded_options({"method_args": None, "prepared_generator_path": "p", "gan_adapt_steps": 100,
                            "label_inversion": "least_likely"})
    new = recorded_options({"method_args": {"prepared_path": "p", "adapt_steps": 100, "label_inversion": "least_likely"}})
    assert old == new and old["prepared_path"] == "p" and old["gan.epochs"] == 20.0


def test_hf_unlearn_methods_lists_every_option_with_its_range_and_choices():
    rows = {name: help_text for name, _, help_text in describe_options(MultiGANOptions)}
    assert "gan.epochs" in rows and "Allowed: > 0" in rows["gan.epochs"]
    assert "Choices: complement, least_likely, random_other" in rows["label_inversion"]
