import pytest
import torch

from hf_unlearn.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    GANSamplingPipeline,
    GANSettings,
    default_gan_resolution,
    gan_pixels,
    train_gan,
)


@pytest.mark.parametrize("resolution, channels", [(8, 1), (32, 1), (32, 3), (64, 3)])
def test_shapes_follow_the_data(resolution, channels):
    gen = DCGANGenerator(latent_dim=16, num_channels=channels, resolution=resolution, base_channels=8)
    disc = DCGANDiscriminator(num_channels=channels, resolution=resolution, base_channels=8)
    images = gen(torch.randn(4, 16))
    assert images.shape == (4, channels, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1
    assert disc(images).shape == (4,)


def test_resolution_is_rounded_up_to_a_power_of_two():
    assert default_gan_resolution((8, 8)) == 8
    assert default_gan_resolution((28, 28)) == 32
    assert default_gan_resolution((32, 32)) == 32
    assert default_gan_resolution((224, 224)) == 64  # capped
    with pytest.raises(ValueError, match="power of two"):
        DCGANGenerator(resolution=28)


def test_generator_save_load_round_trip(tmp_path):
    gen = DCGANGenerator(latent_dim=16, num_channels=1, resolution=8, base_channels=8).eval()
    gen.save_pretrained(tmp_path / "g")
    assert (tmp_path / "g" / "config.json").is_file()
    assert any(p.suffix == ".safetensors" for p in (tmp_path / "g").iterdir())
    loaded = DCGANGenerator.from_pretrained(tmp_path / "g").eval()
    assert loaded.config.latent_dim == 16 and loaded.config.resolution == 8
    z = torch.randn(3, 16)
    torch.testing.assert_close(loaded(z), gen(z))


def test_pipeline_is_deterministic_and_matches_the_data_format():
    gen = DCGANGenerator(latent_dim=16, num_channels=1, resolution=32, base_channels=8)
    pipe = GANSamplingPipeline(gen)
    a = pipe(5, seed=0, image_size=(28, 28), mode="L").images
    b = pipe(5, seed=0, image_size=(28, 28), mode="L").images
    c = pipe(5, seed=1, image_size=(28, 28), mode="L").images
    assert len(a) == 5 and a[0].size == (28, 28) and a[0].mode == "L"
    assert [x.tobytes() for x in a] == [x.tobytes() for x in b]
    assert [x.tobytes() for x in a] != [x.tobytes() for x in c]
    rgb = pipe(2, seed=0, mode="RGB").images
    assert rgb[0].mode == "RGB" and rgb[0].size == (32, 32)


def test_pipeline_takes_a_torch_generator_like_every_diffusers_pipeline():
    """`generator=` draws the noise (seed= is its shortcut: same images); a generator's state moves on."""
    gen = DCGANGenerator(latent_dim=16, num_channels=3, resolution=8, base_channels=8)
    pipe = GANSamplingPipeline(gen)
    by_seed = pipe(4, seed=7, output_type="pt").images
    noise = torch.Generator().manual_seed(7)
    by_generator = pipe(4, generator=noise, output_type="pt").images
    torch.testing.assert_close(by_generator, by_seed)
    assert not torch.equal(pipe(4, generator=noise, output_type="pt").images, by_seed)  # its state advanced


def test_train_gan_learns_the_data_mean(digits):
    """A short GAN run moves samples towards the data (mean brightness), from a random start."""
    pixels = gan_pixels(digits["train"].select(range(256)), resolution=8, num_channels=1)
    assert pixels.shape == (256, 1, 8, 8) and pixels.min() >= -1 and pixels.max() <= 1
    settings = GANSettings(latent_dim=16, generator_channels=16, discriminator_channels=16, epochs=1, min_steps=150,
                           batch_size=32)
    torch.manual_seed(0)
    untrained = DCGANGenerator(16, 1, 8, 16).eval()
    gen = train_gan(pixels, settings, seed=0, cpu=True, disable_progress=True)
    with torch.no_grad():
        z = torch.randn(512, 16)
        before = (untrained(z).mean() - pixels.mean()).abs()
        after = (gen(z).mean() - pixels.mean()).abs()
    assert after < before
    assert after < 0.25
