import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from PIL import Image

from hf_unlearn.data import images_to_dataset
from hf_unlearn.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    GANImages,
    GANSamplingPipeline,
    GANSettings,
    GANTrainingError,
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


# ---------------------------------------------------------------------------------------------------------------
# GAN data through a DataLoader: the old whole-set tensor computation, kept here only as the reference
TINY = GANSettings(latent_dim=16, generator_channels=8, discriminator_channels=8, epochs=2, min_steps=14, batch_size=16)


def _old_gan_pixels(dataset, resolution, num_channels):
    """gan_pixels before the data loader (hf-unlearn 56e3592), verbatim: the whole set as one tensor."""
    mode = "L" if num_channels == 1 else "RGB"

    def to_array(batch):
        arrays = []
        for img in batch["image"]:
            img = img.convert(mode)
            if img.size != (resolution, resolution):
                img = img.resize((resolution, resolution), Image.BICUBIC)
            arr = np.asarray(img, dtype=np.uint8)
            arrays.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
        return {"pixels": arrays}

    pixels = dataset.map(to_array, batched=True, remove_columns=dataset.column_names, keep_in_memory=True
                         ).with_format("torch")[:]["pixels"]
    return pixels.float().div(127.5).sub(1.0)


def _old_train_gan(pixels, settings, seed=0):
    """train_gan before the data loader (56e3592), verbatim but for the progress bar: a TensorDataset."""
    num_images, channels, resolution = pixels.shape[0], pixels.shape[1], pixels.shape[2]
    accelerator = Accelerator(cpu=True)
    torch.manual_seed(seed)
    generator = DCGANGenerator(settings.latent_dim, channels, resolution, settings.generator_channels)
    discriminator = DCGANDiscriminator(channels, resolution, settings.discriminator_channels)
    betas = (settings.beta1, settings.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=settings.learning_rate, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=settings.learning_rate, betas=betas)
    batch_size = max(2, min(settings.batch_size, num_images // accelerator.num_processes))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(pixels), batch_size=batch_size, shuffle=True, drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    steps_per_epoch = max(1, num_images // (batch_size * accelerator.num_processes))
    total_steps = max(settings.min_steps, math.ceil(settings.epochs * steps_per_epoch))
    generator, discriminator, opt_g, opt_d, loader = accelerator.prepare(generator, discriminator, opt_g, opt_d, loader)
    noise = torch.Generator(device="cpu").manual_seed(seed * 1000 + accelerator.process_index + 1)
    step = 0
    while step < total_steps:
        for (real,) in loader:
            if step >= total_steps:
                break
            real = real.to(accelerator.device).contiguous(memory_format=torch.channels_last)
            n = real.shape[0]
            z = torch.randn(n, settings.latent_dim, generator=noise).to(accelerator.device)
            ones = torch.ones(n, device=accelerator.device)
            zeros = torch.zeros(n, device=accelerator.device)
            with accelerator.autocast():
                fake = generator(z)
                loss_d = F.binary_cross_entropy_with_logits(discriminator(real).float(), ones) + \
                    F.binary_cross_entropy_with_logits(discriminator(fake.detach()).float(), zeros)
            opt_d.zero_grad(set_to_none=True)
            accelerator.backward(loss_d)
            opt_d.step()
            with accelerator.autocast():
                loss_g = F.binary_cross_entropy_with_logits(discriminator(fake).float(), ones)
            opt_g.zero_grad(set_to_none=True)
            accelerator.backward(loss_g)
            opt_g.step()
            step += 1
    trained = accelerator.unwrap_model(generator).to("cpu").float().eval()
    accelerator.free_memory()
    return trained


def _mixed_rgb(count, seed=0):
    """RGB images of two sizes, neither the GAN's: every one is resized on the way."""
    rng = np.random.default_rng(seed)
    sizes = [(12, 12) if i % 3 else (16, 10) for i in range(count)]
    return images_to_dataset([Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes],
                             [i % 4 for i in range(count)])


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.fixture(scope="module")
def gan_cases(digits):
    # 100 rows: 6 batches of 16 and a dropped remainder per epoch, 14 steps: three epochs, the last one cut short
    return {"digits 8px": (digits["train"].select(range(100)), 8, 1),
            "mixed-size RGB 8px": (_mixed_rgb(100), 8, 3),
            "grayscale into 3 channels 16px": (digits["train"].select(range(100)), 16, 3)}


@pytest.mark.parametrize("case", ["digits 8px", "mixed-size RGB 8px", "grayscale into 3 channels 16px"])
def test_data_loader_path_is_bit_identical_to_the_whole_set_tensor(gan_cases, case):
    """Same seed, same numbers: images decoded batch by batch give the generator the old tensor path gave."""
    dataset, resolution, channels = gan_cases[case]
    old_pixels = _old_gan_pixels(dataset, resolution, channels)
    assert torch.equal(gan_pixels(dataset, resolution, channels), old_pixels)
    images = GANImages(dataset, resolution, channels)
    assert len(images) == len(dataset) and torch.equal(torch.stack(images.__getitems__([3, 0, 7])), old_pixels[[3, 0, 7]])
    old = _old_train_gan(old_pixels, TINY, seed=3)
    new = train_gan(images, TINY, seed=3, cpu=True, disable_progress=True)
    _assert_same_weights(new, old)
    if case == "digits 8px":  # the tensor form still trains the same generator; so do worker processes
        _assert_same_weights(train_gan(old_pixels, TINY, seed=3, cpu=True, disable_progress=True), old)
        _assert_same_weights(train_gan(images, TINY, seed=3, cpu=True, disable_progress=True, num_workers=1), old)


def test_gan_images_hold_no_pixels(digits):
    """The dataset wrapper keeps the (memory-mapped or encoded) rows, never a decoded copy of the set."""
    images = GANImages(digits["train"], 8, 1)
    assert images.images.column_names == ["image"] and not any(
        isinstance(v, (torch.Tensor, np.ndarray)) for v in vars(images).values())


def test_too_few_images_for_one_batch_is_refused_not_an_endless_loop(digits):
    with pytest.raises(GANTrainingError, match="too few"):
        train_gan(GANImages(digits["train"].select(range(1)), 8, 1), TINY, cpu=True, disable_progress=True)


def _launch_two_processes(folder, script: str, *args: str) -> subprocess.CompletedProcess:
    """Run `script` (Python source) as 2 CPU processes (gloo) with `accelerate launch`; returns the finished run."""
    import shutil

    path = folder / "script.py"
    path.write_text(script)
    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or "accelerate"
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", str(path), *args],
                          cwd=folder, env=env, capture_output=True, text=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done


TWO_PROCESS_SCRIPT = """
import sys, torch
from hf_unlearn.data import digits_dataset
from hf_unlearn.gan import GANImages, GANSettings, gan_pixels, train_gan
settings = GANSettings(latent_dim=16, generator_channels=8, discriminator_channels=8, epochs=2, min_steps=12,
                       batch_size=16)
data = digits_dataset(seed=0)["train"].select(range(120))
old = train_gan(gan_pixels(data, 8, 1), settings, seed=1, cpu=True, disable_progress=True)
new = train_gan(GANImages(data, 8, 1), settings, seed=1, cpu=True, disable_progress=True)
same = all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values(), strict=True))
line = ("SAME " if same else "DIFFERENT ") + repr(float(sum(t.double().sum() for t in new.state_dict().values())))
# one file per rank: two ranks printing to one stdout can interleave their lines
with open(f"{sys.argv[1]}/rank{torch.distributed.get_rank()}.txt", "w") as f:
    f.write(line)
"""


def test_data_loader_path_under_two_processes(tmp_path):
    """accelerate shards the loader: each process decodes its own batches; the generator is the tensor path's
    and every rank ends with the same weights (the broadcast)."""
    _launch_two_processes(tmp_path, TWO_PROCESS_SCRIPT, str(tmp_path))
    lines = [(tmp_path / f"rank{rank}.txt").read_text() for rank in (0, 1)]
    assert all(line.startswith("SAME ") for line in lines), lines
    assert lines[0] == lines[1]  # both ranks hold the same generator


GLOBAL_BATCH_SCRIPT = """
import sys, torch, torch.distributed as dist
from hf_unlearn.data import digits_dataset
from hf_unlearn.gan import GANImages, GANSettings, train_gan
settings = GANSettings(latent_dim=16, generator_channels=8, discriminator_channels=8, epochs=2, min_steps=12,
                       batch_size=8)
data = digits_dataset(seed=0)["train"].select(range(120))
for sync in (True, False):
    g = train_gan(GANImages(data, 8, 1), settings, seed=1, cpu=True, disable_progress=True, sync_batchnorm=sync)
    if dist.get_rank() == 0:
        torch.save(g.state_dict(), sys.argv[1] + ("/sync.pt" if sync else "/shard.pt"))
"""


def test_two_processes_train_the_generator_one_process_of_the_global_batch_trains(tmp_path):
    """2 processes x batch 8 with global-batch BatchNorm statistics and latent vectors = 1 process x batch 16 (to
    float rounding); each process normalising its own shard (sync_batchnorm off) trains another generator."""
    _launch_two_processes(tmp_path, GLOBAL_BATCH_SCRIPT, str(tmp_path))
    settings = GANSettings(latent_dim=16, generator_channels=8, discriminator_channels=8, epochs=2, min_steps=12,
                           batch_size=16)
    from hf_unlearn.data import digits_dataset

    data = digits_dataset(seed=0)["train"].select(range(120))
    one = train_gan(GANImages(data, 8, 1), settings, seed=1, cpu=True, disable_progress=True).state_dict()

    def gap(name: str) -> float:
        two = torch.load(tmp_path / name)
        return max(float((one[k].float() - two[k].float()).abs().max()) for k in one)

    assert gap("sync.pt") < 1e-6 < 1e-4 < gap("shard.pt")
