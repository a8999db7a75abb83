"""Drop-in with Hugging Face image classifiers: unlearning works across `AutoModelForImageClassification` families.

Each family is built from a tiny config (offline), trained briefly on the real digits into an "original",
saved with its OWN image-processor class (the one `AutoImageProcessor` maps that model type to), and handed to
`UnlearningTrainer` as a local folder path, exactly as a user's downloaded model. The digits are 8x8
grayscale images, so every RGB case also checks grayscale data into a 3-channel model; one case is a
1-channel model.

Every class of `AutoModelForImageClassification`'s mapping is accounted for (see the last test): a case that learns
the digits and forgets the 3s, a drop-in case (an untrained original through a few unlearning steps: loads, fits,
saves and reloads), a class refused before any work (`REFUSED`), or a skip with its reason (`SKIPPED`).
DeiT's and LeViT's distilled `...WithTeacher` classes are unlearned as they are, both heads.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import transformers
from transformers import AutoImageProcessor, AutoModelForImageClassification, Trainer, TrainingArguments
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.data import ImageTransform, collate_images, model_num_channels
from hf_unlearn.evaluation import predict
from hf_unlearn.modeling import UnsupportedModelError
from hf_unlearn.scratch import train_classifier

LABELS = {i: str(i) for i in range(10)}
HEAD = dict(num_labels=10, id2label=LABELS, label2id={name: i for i, name in LABELS.items()})


def image_processor(name: str, **kwargs: Any) -> Any:
    """`transformers.<name>` with the PIL backend where transformers 5 has one (torchvision is not needed)."""
    cls = getattr(transformers, f"{name}Pil", None) or getattr(transformers, name)
    return cls(**kwargs)


#: Unlearning settings of the cheap Multi-GAN: two tiny DCGANs trained for a few dozen steps.
TINY_GAN = dict(method_args={"gan": {"generator_channels": 16, "discriminator_channels": 16, "epochs": 1,
                                     "min_steps": 20, "batch_size": 64},
                             "num_synthetic_retain": 60, "num_synthetic_forget": 60})
#: Transformers (ViT, Swin, ConvNeXt) train with AdamW; SGD at the paper's 0.05 is for the CNNs.
ADAMW = dict(optim="adamw_torch", optim_args=None, weight_decay=0.0)
#: A drop-in case's unlearning: a few random-label steps on a small retain sample, a short evaluation.
DROP_IN = dict(ADAMW, learning_rate=5e-3, max_steps=3, per_device_train_batch_size=8, num_retain_samples=64,
               eval_retain_samples=32)
S16, S32 = {"height": 16, "width": 16}, {"height": 32, "width": 32}
TINY_VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
TINY_TEXT = dict(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                 max_position_embeddings=16)


@dataclass(frozen=True)
class Family:
    """One model family: tiny config, its own processor, how the original is trained and how it is unlearned."""

    name: str
    model_class: str  # what AutoModelForImageClassification builds and loads
    config: Callable[[], Any]
    processor: Callable[[], Any]
    processor_class: str  # the class AutoImageProcessor must load back from the saved folder
    input_size: tuple[int, int]  # (H, W) the processor resizes / crops to: what the model is built for
    train: dict[str, Any] | None  # TrainingArguments of the original; None: a drop-in case (untrained original)
    method: str
    unlearn: dict[str, Any] = field(default_factory=dict)  # extra UnlearningConfig fields

    @property
    def num_channels(self) -> int:  # CLIP / SigLIP configs hold it in their vision config: 3, as for the trainer
        return int(getattr(self.config(), "num_channels", 3))

    @property
    def learns(self) -> bool:
        """The original is trained on the digits, so forgetting the 3s can be measured."""
        return self.train is not None


def drop_in(name: str, model_class: str, config: Callable[[], Any], processor: Callable[[], Any],
            processor_class: str, input_size: tuple[int, int]) -> Family:
    """A family checked as a drop-in: its untrained original goes through a few unlearning steps, loaded from its
    folder with its own processor, fed inputs of its size, saved and reloaded as the same class (cheap: one case
    for every class of the mapping)."""
    return Family(name, model_class, config, processor, processor_class, input_size, None, "random_label", DROP_IN)


LEARNING = [
    Family(  # microsoft/resnet-* ship a ConvNextImageProcessor (crop_pct=1: resize to 32, no crop)
        "resnet", "ResNetForImageClassification",
        lambda: transformers.ResNetConfig(num_channels=3, embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
                                          layer_type="basic", downsample_in_first_stage=False, **HEAD),
        lambda: image_processor("ConvNextImageProcessor", size={"shortest_edge": 32}, crop_pct=1.0),
        "ConvNextImageProcessor", (32, 32),
        dict(num_train_epochs=3, learning_rate=0.05, optim="sgd", optim_args="momentum=0.9"),
        "multigan", dict(TINY_GAN, learning_rate=0.01),
    ),
    Family(
        "vit", "ViTForImageClassification",
        lambda: transformers.ViTConfig(image_size=16, patch_size=4, num_channels=3, hidden_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, intermediate_size=128, **HEAD),
        lambda: image_processor("ViTImageProcessor", size={"height": 16, "width": 16}),
        "ViTImageProcessor", (16, 16),
        dict(num_train_epochs=10, learning_rate=2e-3, warmup_steps=5, optim="adamw_torch"),
        "random_label", dict(ADAMW, learning_rate=1e-3),
    ),
    Family(  # crop_pct 0.875 (the class default): resize the short side to 36, centre-crop 32
        "convnext", "ConvNextForImageClassification",
        lambda: transformers.ConvNextConfig(num_channels=3, image_size=32, patch_size=4, hidden_sizes=[16, 32],
                                            depths=[1, 1], num_stages=2, layer_scale_init_value=0.1, **HEAD),
        lambda: image_processor("ConvNextImageProcessor", size={"shortest_edge": 32}, crop_pct=0.875),
        "ConvNextImageProcessor", (32, 32),
        dict(num_train_epochs=5, learning_rate=5e-3, warmup_steps=5, optim="adamw_torch"),
        "multigan", dict(TINY_GAN, **ADAMW, learning_rate=1e-3),
    ),
    Family(  # microsoft/swin-* ship a ViTImageProcessor
        "swin", "SwinForImageClassification",
        lambda: transformers.SwinConfig(image_size=16, patch_size=2, num_channels=3, embed_dim=32, depths=[1, 1],
                                        num_heads=[2, 4], window_size=4, **HEAD),
        lambda: image_processor("ViTImageProcessor", size={"height": 16, "width": 16}),
        "ViTImageProcessor", (16, 16),
        dict(num_train_epochs=10, learning_rate=2e-3, warmup_steps=5, optim="adamw_torch"),
        "random_label", dict(ADAMW, learning_rate=1e-3),
    ),
    Family(  # size (short side 36) and crop_size (32x32) differ: the model sees the crop
        "mobilenet_v2", "MobileNetV2ForImageClassification",
        lambda: transformers.MobileNetV2Config(num_channels=3, image_size=32, depth_multiplier=0.1, min_depth=8,
                                               finegrained_output=False, classifier_dropout_prob=0.0, **HEAD),
        lambda: image_processor("MobileNetV2ImageProcessor", size={"shortest_edge": 36},
                                crop_size={"height": 32, "width": 32}),
        "MobileNetV2ImageProcessor", (32, 32),
        dict(num_train_epochs=3, learning_rate=3e-3, optim="adamw_torch"),
        # HF's MobileNetV2 has BatchNorm momentum 0.997 (a TF port): its running statistics are the LAST training
        # batch's, and the combined set (400 retain + 146 forget) would end on a batch of 2. Dropping it keeps
        # eval-mode statistics sane; a user fine-tuning MobileNetV2 should do the same.
        "random_label", dict(ADAMW, learning_rate=1e-3, dataloader_drop_last=True),
    ),
    Family(  # a 1-channel model: grayscale in, grayscale GAN samples, one-value mean / std
        "convnext_1ch", "ConvNextForImageClassification",
        lambda: transformers.ConvNextConfig(num_channels=1, image_size=32, patch_size=4, hidden_sizes=[16, 32],
                                            depths=[1, 1], num_stages=2, layer_scale_init_value=0.1, **HEAD),
        lambda: image_processor("ConvNextImageProcessor", size={"shortest_edge": 32}, crop_pct=0.875,
                                image_mean=[0.5], image_std=[0.5]),
        "ConvNextImageProcessor", (32, 32),
        dict(num_train_epochs=5, learning_rate=5e-3, warmup_steps=5, optim="adamw_torch"),
        "multigan", dict(TINY_GAN, **ADAMW, learning_rate=1e-3),
    ),
    Family(  # distilled DeiT (facebook/deit-*-distilled-*): a class and a distillation head, predicting their average
        "deit_distilled", "DeiTForImageClassificationWithTeacher",
        lambda: transformers.DeiTConfig(image_size=16, patch_size=4, num_channels=3, hidden_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, intermediate_size=128, **HEAD),
        lambda: image_processor("DeiTImageProcessor", size=S16, crop_size=S16),
        "DeiTImageProcessor", (16, 16),
        dict(num_train_epochs=10, learning_rate=2e-3, warmup_steps=5, optim="adamw_torch"),
        "random_label", dict(ADAMW, learning_rate=1e-3),
    ),
    Family(  # distilled LeViT (facebook/levit-*): both heads on the pooled features; resize to 36, crop 32
        "levit_distilled", "LevitForImageClassificationWithTeacher",
        lambda: transformers.LevitConfig(image_size=32, num_channels=3, hidden_sizes=[32, 48], num_attention_heads=[2, 3],
                                         depths=[1, 1], key_dim=[8, 8], mlp_ratio=[2, 2], attention_ratio=[2, 2],
                                         down_ops=[["Subsample", 8, 4, 4, 2, 2]], drop_path_rate=0, **HEAD),
        lambda: image_processor("LevitImageProcessor", size={"shortest_edge": 32}, crop_size=S32),
        "LevitImageProcessor", (32, 32),
        dict(num_train_epochs=3, learning_rate=5e-3, warmup_steps=5, optim="adamw_torch"),
        "multigan", dict(TINY_GAN, **ADAMW, learning_rate=1e-3),
    ),
]

T = transformers
#: Every other family of the mapping as a drop-in case (tiny configs; processors with the PIL backend).
DROP_INS = [
    drop_in("beit", "BeitForImageClassification",
            lambda: T.BeitConfig(image_size=16, patch_size=4, use_mean_pooling=True, **TINY_VIT, **HEAD),
            lambda: image_processor("BeitImageProcessor", size=S16, do_center_crop=False), "BeitImageProcessor", (16, 16)),
    drop_in("bit", "BitForImageClassification",
            lambda: T.BitConfig(embedding_size=16, hidden_sizes=[32, 64], depths=[1, 1], num_groups=4, **HEAD),
            lambda: image_processor("BitImageProcessor", size={"shortest_edge": 32}, crop_size=S32),
            "BitImageProcessor", (32, 32)),
    drop_in("clip", "CLIPForImageClassification",
            lambda: T.CLIPConfig(vision_config=dict(image_size=16, patch_size=4, **TINY_VIT), text_config=TINY_TEXT,
                                 projection_dim=16, **HEAD),
            lambda: image_processor("CLIPImageProcessor", size={"shortest_edge": 16}, crop_size=S16),
            "CLIPImageProcessor", (16, 16)),
    drop_in("convnextv2", "ConvNextV2ForImageClassification",
            lambda: T.ConvNextV2Config(image_size=32, hidden_sizes=[16, 32], depths=[1, 1], num_stages=2, **HEAD),
            lambda: image_processor("ConvNextImageProcessor", size={"shortest_edge": 32}, crop_pct=1.0),
            "ConvNextImageProcessor", (32, 32)),
    drop_in("cvt", "CvtForImageClassification",  # depth [1, 2]: transformers indexes stage i's drop-path rates by i
            lambda: T.CvtConfig(patch_sizes=[7, 3], patch_stride=[4, 2], patch_padding=[2, 1], embed_dim=[16, 32],
                                num_heads=[1, 2], depth=[1, 2], mlp_ratio=[2.0, 2.0], attention_drop_rate=[0.0, 0.0],
                                drop_rate=[0.0, 0.0], drop_path_rate=[0.0, 0.0], qkv_bias=[True, True],
                                cls_token=[False, True], qkv_projection_method=["dw_bn", "dw_bn"], kernel_qkv=[3, 3],
                                padding_kv=[1, 1], stride_kv=[2, 2], padding_q=[1, 1], stride_q=[1, 1], **HEAD),
            lambda: image_processor("ConvNextImageProcessor", size={"shortest_edge": 32}, crop_pct=1.0),
            "ConvNextImageProcessor", (32, 32)),
    drop_in("data2vec_vision", "Data2VecVisionForImageClassification",
            lambda: T.Data2VecVisionConfig(image_size=16, patch_size=4, use_mean_pooling=True, **TINY_VIT, **HEAD),
            lambda: image_processor("BeitImageProcessor", size=S16, do_center_crop=False), "BeitImageProcessor", (16, 16)),
    drop_in("deit", "DeiTForImageClassification",
            lambda: T.DeiTConfig(image_size=16, patch_size=4, **TINY_VIT, **HEAD),
            lambda: image_processor("DeiTImageProcessor", size=S16, crop_size=S16), "DeiTImageProcessor", (16, 16)),
    drop_in("dinov2", "Dinov2ForImageClassification",
            lambda: T.Dinov2Config(image_size=16, patch_size=4, **TINY_VIT, **HEAD),
            lambda: image_processor("BitImageProcessor", size={"shortest_edge": 16}, crop_size=S16),
            "BitImageProcessor", (16, 16)),
    drop_in("dinov2_with_registers", "Dinov2WithRegistersForImageClassification",  # the mapping names no processor:
            lambda: T.Dinov2WithRegistersConfig(image_size=16, patch_size=4, num_register_tokens=2, **TINY_VIT, **HEAD),
            lambda: image_processor("BitImageProcessor", size={"shortest_edge": 16}, crop_size=S16),  # the Hub's one
            "BitImageProcessor", (16, 16)),
    drop_in("donut_swin", "DonutSwinForImageClassification",
            lambda: T.DonutSwinConfig(image_size=16, patch_size=2, embed_dim=16, depths=[1, 1], num_heads=[2, 4],
                                      window_size=4, **HEAD),
            lambda: image_processor("DonutImageProcessor", size=S16), "DonutImageProcessor", (16, 16)),
    drop_in("efficientnet", "EfficientNetForImageClassification",  # hidden_dim: the top conv's width (1280 * 0.1)
            lambda: T.EfficientNetConfig(image_size=32, width_coefficient=0.1, depth_coefficient=0.1, hidden_dim=128,
                                         dropout_rate=0.0, **HEAD),
            lambda: image_processor("EfficientNetImageProcessor", size=S32), "EfficientNetImageProcessor", (32, 32)),
    drop_in("focalnet", "FocalNetForImageClassification",
            lambda: T.FocalNetConfig(image_size=16, patch_size=2, embed_dim=16, depths=[1, 1], focal_levels=[2, 2],
                                     focal_windows=[3, 3], **HEAD),
            lambda: image_processor("BitImageProcessor", size={"shortest_edge": 16}, crop_size=S16),
            "BitImageProcessor", (16, 16)),
    drop_in("hgnet_v2", "HGNetV2ForImageClassification",  # the mapping names no processor: a ResNet-style one
            lambda: T.HGNetV2Config(embedding_size=16, depths=[1, 1], hidden_sizes=[32, 64], stem_channels=[3, 8, 16],
                                    stage_in_channels=[16, 32], stage_mid_channels=[8, 16], stage_out_channels=[32, 64],
                                    stage_num_blocks=[1, 1], stage_downsample=[False, True],
                                    stage_downsample_strides=[2, 2], stage_light_block=[False, True],
                                    stage_kernel_size=[3, 3], stage_numb_of_layers=[2, 2], **HEAD),
            lambda: image_processor("BitImageProcessor", size={"shortest_edge": 32}, crop_size=S32),
            "BitImageProcessor", (32, 32)),
    drop_in("hiera", "HieraForImageClassification",
            lambda: T.HieraConfig(image_size=[32, 32], patch_size=[3, 3], patch_stride=[2, 2], patch_padding=[1, 1],
                                  embed_dim=16, depths=[1, 1], num_heads=[1, 2], query_stride=[2, 2],
                                  masked_unit_size=[4, 4], num_query_pool=1, **HEAD),
            lambda: image_processor("BitImageProcessor", size={"shortest_edge": 32}, crop_size=S32),
            "BitImageProcessor", (32, 32)),
    drop_in("ijepa", "IJepaForImageClassification",
            lambda: T.IJepaConfig(image_size=16, patch_size=4, **TINY_VIT, **HEAD),
            lambda: image_processor("ViTImageProcessor", size=S16), "ViTImageProcessor", (16, 16)),
    drop_in("levit", "LevitForImageClassification",
            lambda: T.LevitConfig(image_size=32, hidden_sizes=[32, 48], num_attention_heads=[2, 3], depths=[1, 1],
                                  key_dim=[8, 8], mlp_ratio=[2, 2], attention_ratio=[2, 2],
                                  down_ops=[["Subsample", 8, 4, 4, 2, 2]], drop_path_rate=0, **HEAD),
            lambda: image_processor("LevitImageProcessor", size={"shortest_edge": 32}, crop_size=S32),
            "LevitImageProcessor", (32, 32)),
    drop_in("metaclip_2", "MetaClip2ForImageClassification",
            lambda: T.MetaClip2Config(vision_config=dict(image_size=16, patch_size=4, **TINY_VIT), text_config=TINY_TEXT,
                                      projection_dim=16, **HEAD),
            lambda: image_processor("CLIPImageProcessor", size={"shortest_edge": 16}, crop_size=S16),
            "CLIPImageProcessor", (16, 16)),
    drop_in("mobilenet_v1", "MobileNetV1ForImageClassification",
            lambda: T.MobileNetV1Config(image_size=32, depth_multiplier=0.25, min_depth=8, classifier_dropout_prob=0.0,
                                        **HEAD),
            lambda: image_processor("MobileNetV1ImageProcessor", size={"shortest_edge": 32}, crop_size=S32),
            "MobileNetV1ImageProcessor", (32, 32)),
    drop_in("mobilevit", "MobileViTForImageClassification",  # its processor flips RGB to BGR and does not normalise
            lambda: T.MobileViTConfig(image_size=32, hidden_sizes=[16, 24, 32], neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64],
                                      num_attention_heads=2, classifier_dropout_prob=0.0, **HEAD),
            lambda: image_processor("MobileViTImageProcessor", size={"shortest_edge": 32}, crop_size=S32),
            "MobileViTImageProcessor", (32, 32)),
    drop_in("mobilevitv2", "MobileViTV2ForImageClassification",  # output stride 32: 64px leaves too little to unfold
            lambda: T.MobileViTV2Config(image_size=96, width_multiplier=0.25, n_attn_blocks=[1, 1, 1],
                                        classifier_dropout_prob=0.0, **HEAD),
            lambda: image_processor("MobileViTImageProcessor", size={"shortest_edge": 96},
                                    crop_size={"height": 96, "width": 96}),
            "MobileViTImageProcessor", (96, 96)),
    *[drop_in(f"perceiver_{kind.lower()}", f"PerceiverForImageClassification{kind}",
              lambda d_model=d_model, size=size: T.PerceiverConfig(  # d_model: the width of what each class's input
                  num_latents=16, d_latents=32, d_model=d_model, num_blocks=1, num_self_attends_per_block=1,  # stage
                  num_self_attention_heads=2, num_cross_attention_heads=1, image_size=size, **HEAD),  # hands over
              lambda size=size: image_processor("PerceiverImageProcessor", size={"height": size, "width": size},
                                                crop_size=size),
              "PerceiverImageProcessor", (size, size))
      for kind, d_model, size in (("Learned", 64, 16), ("Fourier", 261, 16), ("ConvProcessing", 322, 32))],
    drop_in("poolformer", "PoolFormerForImageClassification",
            lambda: T.PoolFormerConfig(num_encoder_blocks=2, depths=[1, 1], hidden_sizes=[16, 32], patch_sizes=[7, 3],
                                       strides=[4, 2], padding=[2, 1], **HEAD),
            lambda: image_processor("PoolFormerImageProcessor", size={"shortest_edge": 32}, crop_size=S32, crop_pct=1.0),
            "PoolFormerImageProcessor", (32, 32)),
    drop_in("pvt", "PvtForImageClassification",
            lambda: T.PvtConfig(image_size=32, num_encoder_blocks=2, depths=[1, 1], sequence_reduction_ratios=[2, 1],
                                hidden_sizes=[16, 32], patch_sizes=[4, 2], strides=[4, 2], num_attention_heads=[1, 2],
                                mlp_ratios=[2, 2], **HEAD),
            lambda: image_processor("PvtImageProcessor", size=S32), "PvtImageProcessor", (32, 32)),
    drop_in("pvt_v2", "PvtV2ForImageClassification",
            lambda: T.PvtV2Config(image_size=32, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                                  hidden_sizes=[16, 32], patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2],
                                  mlp_ratios=[2, 2], **HEAD),
            lambda: image_processor("PvtImageProcessor", size=S32), "PvtImageProcessor", (32, 32)),
    drop_in("regnet", "RegNetForImageClassification",
            lambda: T.RegNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], groups_width=8,
                                   layer_type="x", **HEAD),
            lambda: image_processor("ConvNextImageProcessor", size={"shortest_edge": 32}, crop_pct=1.0),
            "ConvNextImageProcessor", (32, 32)),
    drop_in("segformer", "SegformerForImageClassification",
            lambda: T.SegformerConfig(image_size=32, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                                      hidden_sizes=[16, 32], patch_sizes=[7, 3], strides=[4, 2],
                                      num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=32, **HEAD),
            lambda: image_processor("SegformerImageProcessor", size=S32), "SegformerImageProcessor", (32, 32)),
    drop_in("siglip", "SiglipForImageClassification",
            lambda: T.SiglipConfig(vision_config=dict(image_size=16, patch_size=4, **TINY_VIT), text_config=TINY_TEXT,
                                   **HEAD),
            lambda: image_processor("SiglipImageProcessor", size=S16), "SiglipImageProcessor", (16, 16)),
    drop_in("swiftformer", "SwiftFormerForImageClassification",
            lambda: T.SwiftFormerConfig(image_size=32, depths=[1, 1, 1, 1], embed_dims=[16, 16, 32, 32], **HEAD),
            lambda: image_processor("ViTImageProcessor", size=S32), "ViTImageProcessor", (32, 32)),
    drop_in("swinv2", "Swinv2ForImageClassification",
            lambda: T.Swinv2Config(image_size=16, patch_size=2, embed_dim=16, depths=[1, 1], num_heads=[2, 4],
                                   window_size=4, **HEAD),
            lambda: image_processor("ViTImageProcessor", size=S16), "ViTImageProcessor", (16, 16)),
    drop_in("textnet", "TextNetForImageClassification",
            lambda: T.TextNetConfig(stem_out_channels=8, image_size=[32, 32], hidden_sizes=[8, 16, 32], depths=[1, 2],
                                    conv_layer_kernel_sizes=[[[3, 3]], [[3, 3], [1, 3]]],
                                    conv_layer_strides=[[1], [2, 1]], **HEAD),
            lambda: image_processor("TextNetImageProcessor", size={"shortest_edge": 32}, crop_size=S32),
            "TextNetImageProcessor", (32, 32)),
    drop_in("vit_msn", "ViTMSNForImageClassification",
            lambda: T.ViTMSNConfig(image_size=16, patch_size=4, **TINY_VIT, **HEAD),
            lambda: image_processor("ViTImageProcessor", size=S16), "ViTImageProcessor", (16, 16)),
]
FAMILIES = LEARNING + DROP_INS


#: The classes of the mapping that hf-unlearn refuses before any work (`modeling.check_supported`), each with a tiny
#: model and the processor it is saved with: `test_an_unsupported_class_is_refused_before_any_work`.
REFUSED: dict[str, Callable[[], tuple[Any, Any]]] = {
    "ImageGPTForImageClassification": lambda: (  # pixels become colour-cluster token ids (input_ids)
        T.ImageGPTForImageClassification(T.ImageGPTConfig(vocab_size=17, n_positions=64, n_embd=16, n_layer=1,
                                                          n_head=2, **HEAD)),
        image_processor("ImageGPTImageProcessor", clusters=np.random.RandomState(0).uniform(-1, 1, (16, 3)),
                        size={"height": 8, "width": 8})),
    "Siglip2ForImageClassification": lambda: (  # variable-resolution patches: pixel_attention_mask, spatial_shapes
        T.Siglip2ForImageClassification(T.Siglip2Config(
            vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                               patch_size=4, num_patches=16), text_config=TINY_TEXT, **HEAD)),
        image_processor("Siglip2ImageProcessor", patch_size=4, max_num_patches=16)),
    "ShieldGemma2ForImageClassification": lambda: (  # a prompted vision-language safety classifier (input_ids)
        T.ShieldGemma2ForImageClassification(T.ShieldGemma2Config(
            text_config=dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=1, head_dim=8, layer_types=["full_attention"]),
            vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                               image_size=16, patch_size=4), mm_tokens_per_image=4, **HEAD)),
        image_processor("Gemma3ImageProcessor", size=S16)),
    "PPLCNetForImageClassification": lambda: (  # returns no logits (its scores are last_hidden_state), no loss;
        T.PPLCNetForImageClassification(T.PPLCNetConfig(  # its own processor needs torchvision: a ViT one here
            block_configs=[[[3, 8, 8, 1, False]], [[3, 8, 8, 2, False]], [[3, 8, 8, 2, False]], [[3, 8, 8, 2, False]],
                           [[3, 8, 16, 2, False]]], stem_channels=8, class_expand=32, **HEAD)),
        image_processor("ViTImageProcessor", size=S32)),
}

#: Classes of the mapping with no case here and not refused: why. A class a future transformers adds fails
#: `test_every_class_of_the_mapping_is_accounted_for` until it gets a case, a refusal or a line here.
SKIPPED = {
    "DinatForImageClassification": "needs the natten library (neighbourhood-attention kernels), not installed here",
    "TimmWrapperForImageClassification": "needs timm (the model and its processor wrap a timm model), not installed here",
}


@dataclass
class Run:
    family: Family
    original_dir: str
    output_dir: str
    trainer: UnlearningTrainer
    result: Any


def train_original(model: Any, processor: Any, dataset: Any, args: TrainingArguments) -> Any:
    """`train_classifier`; a distilled (WithTeacher) model, whose forward computes no loss, is trained as DeiT's hard
    distillation trains it, with the true labels standing in for the teacher's: each head learns the labels."""
    if "labels" in inspect.signature(model.forward).parameters:
        return train_classifier(model, processor, dataset, args)

    def both_heads(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        return (F.cross_entropy(outputs.cls_logits, labels) + F.cross_entropy(outputs.distillation_logits, labels)) / 2

    data = dataset.with_transform(ImageTransform(processor, model_num_channels(model)))
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collate_images,
                      compute_loss_func=both_heads)
    trainer.train()
    return trainer.model


@pytest.fixture(scope="module", params=FAMILIES, ids=[f.name for f in FAMILIES])
def run(request, tmp_path_factory, digits) -> Run:
    family: Family = request.param
    root = tmp_path_factory.mktemp(family.name)
    torch.manual_seed(0)
    config = family.config()
    config.architectures = [family.model_class]  # which class of its model type, as a saved checkpoint says
    model = AutoModelForImageClassification.from_config(config)
    processor = family.processor()
    if family.learns:
        args = TrainingArguments(str(root / "train"), per_device_train_batch_size=32, lr_scheduler_type="cosine",
                                 use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True,
                                 remove_unused_columns=False, seed=0, **family.train)
        model = train_original(model, processor, digits["train"], args)
    original_dir = str(root / "original")
    model.save_pretrained(original_dir)
    processor.save_pretrained(original_dir)

    settings = dict(forget_classes=["3"], method=family.method, seed=0, use_cpu=True, disable_tqdm=True,
                    report_to="none", num_train_epochs=2, per_device_train_batch_size=32, num_retain_samples=400,
                    eval_retain_samples=200, logging_steps=1000, max_grad_norm=1.0)
    if family.method == "random_label":  # these tests train model families, not the method: one mixed pass,
        # wrong labels drawn once, clipped at 1.0 (random labelling as it ran before issue 14; same numbers)
        settings["method_args"] = {"passes": "mixed", "label_draw": "once", "wrong_labels_only": True}
    test = digits["test"]
    if not family.learns:  # a drop-in case: 32 of the 3s, a short test set (evaluation is most of its time)
        threes = np.flatnonzero(np.asarray(digits["train"]["label"]) == 3)[:32]
        settings.update(forget_classes=None, forget_indices=threes.tolist())
        test = test.select(range(64))
    config = UnlearningConfig(str(root / "unlearned"), **{**settings, **family.unlearn})
    trainer = UnlearningTrainer(model=original_dir, args=config, train_dataset=digits["train"], eval_dataset=test)
    result = trainer.unlearn()
    return Run(family, original_dir, config.output_dir, trainer, result)


def test_loaded_from_the_folder_with_the_familys_own_processor(run):
    """The trainer loaded model and processor from the folder path with the Auto classes."""
    trainer, family = run.trainer, run.family
    assert type(trainer.model).__name__ == family.model_class
    assert trainer.model.name_or_path == run.original_dir
    # the class that was saved (the PIL backend without torchvision), not a generic fallback
    assert type(trainer.processing_class) is type(family.processor())
    assert type(trainer.processing_class).__name__.startswith(family.processor_class)
    assert model_num_channels(trainer.model) == family.num_channels
    assert trainer.transform.num_channels == family.num_channels


def test_pixel_values_fit_the_model(run, digits):
    """Rows are resized / cropped / converted to the model's input: (num_channels, H, W), for real and synthetic rows."""
    trainer, family = run.trainer, run.family
    expected = (family.num_channels, *family.input_size)
    configured = getattr(trainer.model.config, "image_size", None)
    if configured is not None:  # ViT, Swin and MobileNetV2 configs (and others) say which size they were built for
        assert (tuple(configured) if isinstance(configured, list) else (configured, configured)) == family.input_size
    row = trainer.transform({"image": digits["test"][:1]["image"], "label": digits["test"][:1]["label"]})
    assert tuple(row["pixel_values"][0].shape) == expected
    if family.num_channels == 3:  # gray digits into an RGB model: three copies of one image, each channel
        channels = row["pixel_values"][0].double().reshape(3, -1)  # normalised (or flipped) by the processor alone
        assert channels.std(dim=1).min() > 0.05  # a digit, not a blank image
        torch.testing.assert_close(torch.corrcoef(channels), torch.ones(3, 3, dtype=torch.float64), atol=1e-4, rtol=0)
    if family.num_channels == 3 and family.learns:  # and undone with the processor's mean and std: one gray image
        processor = trainer.processing_class
        pixels = row["pixel_values"][0].double()
        mean = torch.tensor(processor.image_mean, dtype=torch.float64).view(3, 1, 1)
        std = torch.tensor(processor.image_std, dtype=torch.float64).view(3, 1, 1)
        gray = pixels * std + mean
        assert torch.allclose(gray[0], gray[1], atol=1e-4) and torch.allclose(gray[0], gray[2], atol=1e-4)
        assert gray.std() > 0.1  # a digit, not a blank image
    # what the Trainer actually fed to the model during unlearning: its own training dataloader
    batch = next(iter(trainer.get_train_dataloader()))
    assert tuple(batch["pixel_values"].shape[1:]) == expected
    assert batch["pixel_values"].dtype == torch.float32
    sources = np.asarray(trainer.combined_dataset["source"])
    expected_sources = {"retain", "forget"} | ({"synthetic_retain", "synthetic_forget"}
                                               if family.method == "multigan" else set())
    assert set(sources.tolist()) == expected_sources
    for source in expected_sources:  # GAN samples go through the same processor as real images
        index = int(np.flatnonzero(sources == source)[0])
        assert tuple(trainer.train_dataset[index]["pixel_values"].shape) == expected, source


def test_forget_accuracy_drops(run):
    trainer, result = run.trainer, run.result
    original, after = result.metrics["original"], result.metrics["unlearned"]
    shown = {k: {m: round(v, 1) for m, v in d.items() if m.endswith("accuracy")} for k, d in result.metrics.items()}
    for metrics in (original, after):
        assert {"forget_accuracy", "retain_accuracy", "test_accuracy", "mia_score"} <= set(metrics), shown
    # every evaluation row was scored (also with dataloader_drop_last=True, set for MobileNetV2)
    for model in ("original", "unlearned"):
        for name, dataset in trainer.evaluation_datasets().items():
            assert len(trainer.evaluation_predictions[model][name].logits) == len(dataset), (model, name)
    if not run.family.learns:
        return  # a drop-in case: its original is untrained, there is nothing to forget
    # the original learnt the digits, 3s included (chance is 10%) ...
    assert original["forget_accuracy"] > 60 and original["test_accuracy"] > 60, shown
    # ... and the unlearned model no longer recognises the 3s it was trained on, nor unseen 3s,
    assert after["forget_accuracy"] < min(20.0, original["forget_accuracy"] - 50), shown
    test_3s = {}
    for model in ("original", "unlearned"):
        test = trainer.evaluation_predictions[model]["test"]
        test_3s[model] = 100.0 * float((test.predicted[test.labels == 3] == 3).mean())
    assert test_3s["unlearned"] < test_3s["original"] - 40, (test_3s, shown)
    # while it still classifies the other digits far above chance
    assert after["retain_accuracy"] > 50, shown


def test_output_folder_reloads_as_the_same_class(run, digits):
    trainer, family = run.trainer, run.family
    model = AutoModelForImageClassification.from_pretrained(run.output_dir)
    assert type(model) is type(trainer.model)
    assert model.config.num_labels == 10 and model.config.id2label == LABELS
    assert model_num_channels(model) == family.num_channels
    processor = AutoImageProcessor.from_pretrained(run.output_dir)
    assert type(processor) is type(trainer.processing_class)
    # the saved weights are the unlearned model's (not the original's): same predictions as the trainer's model
    test = digits["test"].select(range(64))
    saved = predict(model, test, trainer.transform, trainer.args).logits
    unlearned = predict(trainer.model, test, trainer.transform, trainer.args).logits
    original_model = AutoModelForImageClassification.from_pretrained(run.original_dir)
    original = predict(original_model, test, trainer.transform, trainer.args).logits
    np.testing.assert_allclose(saved, unlearned, atol=1e-4)
    assert not np.allclose(saved, original, atol=1e-3)
    if "WithTeacher" in family.model_class:  # distilled: it predicts with the mean of its two heads, both unlearned
        pixels = next(iter(trainer.get_test_dataloader(test.with_transform(trainer.transform))))["pixel_values"]
        with torch.no_grad():
            outputs = model.eval()(pixel_values=pixels)
        torch.testing.assert_close(outputs.logits, (outputs.cls_logits + outputs.distillation_logits) / 2)
        np.testing.assert_allclose(outputs.logits.numpy(), saved[: len(pixels)], atol=1e-4)
        heads = [name for name, _ in model.named_parameters() if "classifier" in name and name.endswith("weight")]
        assert any("distill" in name for name in heads) and any("distill" not in name for name in heads), heads
        before = dict(original_model.named_parameters())
        for name, weight in model.named_parameters():
            if name in heads:
                assert not torch.allclose(weight, before[name], atol=1e-5), f"{name} was not unlearned"


def test_the_fine_tuning_loss_is_the_cross_entropy_of_the_predictions(run):
    """The Trainer loss the model was fine-tuned on is the cross-entropy of the logits it predicts with: the model's
    own loss, or for a distilled model (no loss of its own) that of the mean of its two heads."""
    trainer = run.trainer
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch))
        logits = model(pixel_values=batch["pixel_values"]).logits
    torch.testing.assert_close(loss, F.cross_entropy(logits, batch["labels"]), atol=1e-5, rtol=1e-5)


def test_an_unsupported_class_is_refused_before_any_work(tmp_path, digits):
    """A class of the mapping that hf-unlearn cannot train is refused by UnlearningTrainer, loaded from its folder
    like any other: the message names the class, why and what to do, and nothing is written."""
    for name, build in REFUSED.items():
        model, processor = build()
        assert type(model).__name__ == name
        folder, out = tmp_path / name / "original", tmp_path / name / "unlearned"
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        files = sorted(os.listdir(folder))
        config = UnlearningConfig(str(out), forget_classes=["3"], method="multigan", use_cpu=True, report_to="none")
        with pytest.raises(UnsupportedModelError, match=f"^{name} cannot be unlearned: .+ instead"):
            UnlearningTrainer(model=str(folder), args=config, train_dataset=digits["train"], eval_dataset=digits["test"])
        assert not out.exists(), name
        assert sorted(os.listdir(folder)) == files


def test_every_class_of_the_mapping_is_accounted_for():
    """Each class AutoModelForImageClassification can build has a case here, is refused with a reason, or is
    skipped with one; a class a new transformers adds fails this test until someone decides which."""
    mapping = {name for names in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES.values()
               for name in (names if isinstance(names, tuple) else (names,))}
    cases = {family.model_class for family in FAMILIES}
    accounted = [*cases, *REFUSED, *SKIPPED]
    assert len(accounted) == len(set(accounted)), "a class is both covered and refused or skipped"
    assert sorted(mapping - set(accounted)) == [], "classes without a case, a refusal or a reason to skip"
    assert sorted(set(accounted) - mapping) == [], "cases or reasons for classes no longer in the mapping"
