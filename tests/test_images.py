"""Images as they come: every PIL mode reaches the model (and the GANs) as the correctly scaled 8-bit image, or is
refused, naming its row, before any work; synthetic images are sized from the data, not from its first image."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from hf_unlearn.commands.quickstart import digits_processor
from hf_unlearn.data import (
    CONVERTIBLE_MODES,
    DataError,
    ImageTransform,
    check_images,
    common_image_format,
    content_digest,
    images_to_dataset,
    to_model_mode,
)
from hf_unlearn.gan import gan_pixels
from hf_unlearn.methods.multigan import MultiGAN

GRAY = np.array([[0, 30, 60, 90], [120, 150, 180, 210], [240, 255, 5, 77], [1, 2, 3, 4]], dtype=np.uint8)
RGB = np.stack([GRAY, GRAY[::-1], GRAY.T], axis=-1)


def _pixel_values(images, num_channels):
    transform = ImageTransform(digits_processor(num_channels=num_channels), num_channels=num_channels)
    return torch.stack(transform({"image": list(images)})["pixel_values"])


def _same_model_input(image, expected_8bit):
    """`image` reaches L and RGB models exactly as `expected_8bit` does (and converts to its pixels)."""
    for mode, channels in (("L", 1), ("RGB", 3)):
        assert np.array_equal(np.asarray(to_model_mode(image, mode)), np.asarray(expected_8bit.convert(mode)))
        torch.testing.assert_close(_pixel_values([image], channels), _pixel_values([expected_8bit], channels),
                                   rtol=0, atol=0)


def _stored(image):
    """`image` after a round trip through a `datasets.Dataset` (encoded, decoded: its mode as a user loads it)."""
    return images_to_dataset([image], [0])[0]["image"]


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_16_bit_images_are_scaled_by_the_16_bit_range_not_clipped(mode):
    values = np.array([[0, 1000, 65535, 257 * 100], [128, 129, 385, 386], [65535, 0, 0, 65535],
                       [257, 514, 771, 60000]], dtype=np.int64)
    expected = np.array([[0, 4, 255, 100], [0, 1, 1, 2], [255, 0, 0, 255], [1, 2, 3, 233]], dtype=np.uint8)
    np.testing.assert_array_equal(np.rint(values / 257), expected)  # round(v / 257)
    dtype = {"I;16": np.uint16, "I;16B": ">u2", "I": np.int32}[mode]
    image = _stored(Image.fromarray(values.astype(dtype)))
    assert image.mode == mode
    _same_model_input(image, Image.fromarray(expected))
    # today's PIL conversion clips at 255: 1000 would be white, the bug this guards against
    assert np.asarray(image.convert("L"))[0, 1] == 255 and np.asarray(to_model_mode(image, "L"))[0, 1] == 4


def test_full_16_bit_white_is_8_bit_white():
    white16 = _stored(Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)))
    white8 = Image.fromarray(np.full((8, 8), 255, dtype=np.uint8))
    torch.testing.assert_close(_pixel_values([white16], 1), _pixel_values([white8], 1), rtol=0, atol=0)


def test_float_images_are_read_as_0_to_1():
    values = np.array([[0.0, 0.5, 1.0, 0.25], [0.1, 0.9, 0.999, 0.001]] * 2, dtype=np.float32)
    image = _stored(Image.fromarray(values))
    assert image.mode == "F"
    expected = np.rint(values.astype(np.float64) * 255).astype(np.uint8)
    assert expected[0].tolist() == [0, 128, 255, 64]
    _same_model_input(image, Image.fromarray(expected))


@pytest.mark.parametrize("values, message", [
    (np.array([[0.0, 255.0], [3.5, 1.0]], dtype=np.float32), r"values in \[0, 255\].*\[0, 1\]"),
    (np.array([[-0.5, 0.5], [0.2, 1.0]], dtype=np.float32), r"values in \[-0.5, 1\]"),
    (np.array([[np.nan, 0.5], [0.2, 1.0]], dtype=np.float32), "NaN"),
    (np.array([[-5, 10], [20, 30]], dtype=np.int32), r"-5\.\.30.*16-bit"),
    (np.array([[0, 70000], [20, 30]], dtype=np.int32), r"0\.\.70000.*16-bit"),
])
def test_values_that_cannot_be_scaled_are_refused_naming_the_row(values, message):
    bad = Image.fromarray(values)
    with pytest.raises(DataError, match=message):
        to_model_mode(bad, "L")
    good = [Image.fromarray(GRAY)] * 3
    dataset = images_to_dataset(good[:2] + [bad] + good[2:], [0, 1, 2, 3])
    with pytest.raises(DataError, match=rf"1 image\(s\) of the training set cannot be scaled to 8 bits \(rows \[2\]; "
                                        rf"row 2: .*{message}"):
        content_digest(dataset, verify="training set")
    with pytest.raises(DataError, match=r"test set .*rows \[2\]"):
        check_images(dataset, what="test set")
    with pytest.raises(DataError, match=message):  # and if it ever reaches the model, not silently
        ImageTransform(digits_processor())({"image": [bad]})


def test_modes_that_cannot_be_converted_are_refused_before_any_work():
    lab = Image.fromarray(RGB).convert("LAB")
    dataset = images_to_dataset([Image.fromarray(GRAY), _stored(lab)], [0, 1])
    assert "LAB" not in CONVERTIBLE_MODES
    with pytest.raises(DataError, match=r"colour mode .*'LAB'.*rows \[1\]"):
        content_digest(dataset, verify="training set")
    with pytest.raises(DataError, match="'LAB'"):
        to_model_mode(lab, "RGB")
    assert content_digest(dataset) == content_digest(dataset)  # hashing alone (verify=None) checks nothing


def _palette(transparency: bool) -> Image.Image:
    image = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    if transparency:
        image.info["transparency"] = 0
    return image


def _pils_own(image):
    """`image` reaches L and RGB models as PIL's own `convert` makes it (as Transformers' examples train on)."""
    for mode, channels in (("L", 1), ("RGB", 3)):
        assert np.array_equal(np.asarray(to_model_mode(image, mode)), np.asarray(image.convert(mode)))
        torch.testing.assert_close(_pixel_values([image], channels), _pixel_values([image.convert(mode)], channels),
                                   rtol=0, atol=0)


@pytest.mark.parametrize("make, expected_rgb", [
    (lambda: Image.fromarray(GRAY > 100), np.repeat(np.where(GRAY > 100, 255, 0)[..., None], 3, -1)),  # 1: 0 / 255
    (lambda: Image.fromarray(np.stack([GRAY, 255 - GRAY], -1), "LA"), np.repeat(GRAY[..., None], 3, -1)),  # no alpha
    (lambda: Image.fromarray(np.concatenate([RGB, GRAY[..., None]], -1), "RGBA"), RGB),  # alpha dropped, not composited
    (lambda: _palette(False), None),
    (lambda: _palette(True), None),
    (lambda: Image.fromarray(RGB).convert("CMYK"), RGB),
    (lambda: Image.fromarray(RGB).convert("YCbCr"), None),  # PIL's YCbCr round trip: within a few levels
])
def test_8_bit_modes_take_pils_own_conversion(make, expected_rgb):
    image = make()
    _pils_own(image)
    _pils_own(_stored(image))  # as loaded from a dataset (PNG or TIFF)
    rgb = np.asarray(to_model_mode(image, "RGB")).astype(int)
    if expected_rgb is not None:
        np.testing.assert_array_equal(rgb, expected_rgb)
    else:
        assert np.abs(rgb - RGB.astype(int)).max() <= (4 if image.mode == "YCbCr" else 40)
    if image.mode == "P":  # palette colours, transparency (if any) dropped
        np.testing.assert_array_equal(rgb, np.asarray(_palette(False).convert("RGB")))


def test_8_bit_l_and_rgb_give_exactly_todays_inputs():
    """8-bit L and RGB take the very conversion they always took (`Image.convert`): same seed, same numbers."""
    for image in (Image.fromarray(GRAY), Image.fromarray(RGB)):
        for channels, mode in ((1, "L"), (3, "RGB")):
            processor = digits_processor(num_channels=channels)
            before = processor([image.convert(mode)], return_tensors="pt")["pixel_values"]
            torch.testing.assert_close(_pixel_values([image], channels), before, rtol=0, atol=0)


def test_gan_images_take_the_same_conversion():
    image16 = _stored(Image.fromarray(GRAY.astype(np.uint16) * 257))
    pixels = gan_pixels(images_to_dataset([image16, Image.fromarray(GRAY)], [0, 1]), resolution=4, num_channels=1)
    torch.testing.assert_close(pixels[0], pixels[1], rtol=0, atol=0)  # v * 257 / 257 == v


def _gray_images(count, size=(8, 8), seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, size[::-1], dtype=np.uint8)) for _ in range(count)]


def test_synthetic_format_is_the_most_common_size_not_the_first_image():
    huge = Image.fromarray(np.zeros((1500, 2000), dtype=np.uint8))
    forget = images_to_dataset([huge] + _gray_images(5), [0] * 6)
    retain = images_to_dataset(_gray_images(20, seed=1), [1] * 20)
    assert common_image_format(forget, retain) == ("L", (8, 8))
    assert common_image_format(images_to_dataset(_gray_images(3, (10, 12)) + _gray_images(3), [0] * 6)) == \
        ("L", (10, 12))  # a tie goes to the size seen first
    colour = images_to_dataset([Image.fromarray(RGB)] + _gray_images(9), [0] * 10)
    assert common_image_format(colour) == ("RGB", (8, 8))  # any colour image: RGB
    assert common_image_format(images_to_dataset([_stored(Image.fromarray(GRAY.astype(np.uint16)))], [0])) == \
        ("L", (4, 4))  # 16-bit grayscale is grayscale


def test_multigan_sizes_synthetic_images_from_the_data_it_learns():
    huge = Image.fromarray(np.zeros((1500, 2000), dtype=np.uint8))
    trainer = SimpleNamespace(args=SimpleNamespace(method_args=None),
                              forget_dataset=images_to_dataset([huge] + _gray_images(5), [3] * 6),
                              retain_dataset=images_to_dataset(_gray_images(20, seed=1), [1] * 20))
    method = MultiGAN(trainer)
    assert method._data_format() == ("L", (8, 8), 8)  # was ("L", (2000, 1500), 64): every sample 2000x1500
    method.options.resolution = 32
    assert method._data_format() == ("L", (8, 8), 32)
    # uniform data (digits 8x8, CIFAR 32x32): the first forget image's format, as before
    cifar_like = images_to_dataset([Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8))] * 4, [0] * 4)
    trainer.forget_dataset = trainer.retain_dataset = cifar_like
    method.options.resolution = None
    assert method._data_format() == ("RGB", (32, 32), 32)
