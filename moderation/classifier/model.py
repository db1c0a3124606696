"""Loads the open_clip model named by the settings, without ever blocking on a hub download when offline."""

# ruff: noqa: I001 - the torchvision shim must be imported before open_clip, against isort's order

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moderation.classifier import torchvision_compat  # noqa: F401 - must precede open_clip (torchvision)
from moderation.classifier.weights import hub_endpoint, hub_offline, unreachable
from moderation.config import Settings

import open_clip
import torch

log = logging.getLogger(__name__)

HF_WEIGHTS_NAME = "open_clip_pytorch_model.bin"


class ModelUnavailable(Exception):
    """The model cannot be loaded; `str(exc)` is the reason shown in /readyz."""


@dataclass(frozen=True)
class LoadedModel:
    """An open_clip model ready for inference (eval mode, CPU) with its preprocessing and tokenizer."""

    model: torch.nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    tokenizer: Callable[[list[str]], torch.Tensor]
    model_id: str
    embed_dim: int
    image_size: tuple[int, int]

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings, shape (batch, embed_dim)."""
        with torch.inference_mode():
            return self.model.encode_image(pixels, normalize=True).float()  # type: ignore[operator]

    def encode_texts(self, prompts: list[str]) -> torch.Tensor:
        """L2-normalised text embeddings, shape (len(prompts), embed_dim)."""
        with torch.inference_mode():
            return self.model.encode_text(self.tokenizer(prompts), normalize=True).float()  # type: ignore[operator]


def _model_name(settings: Settings) -> str:
    """The open_clip architecture name; a path to a model config JSON registers that config first."""
    name = settings.clip_model
    if name.endswith(".json"):
        path = Path(name)
        if not path.is_file():
            raise ModelUnavailable(f"model config {path} does not exist (MODERATION_CLIP_MODEL)")
        open_clip.add_model_config(path)
        name = path.stem
    if open_clip.get_model_config(name) is None:
        raise ModelUnavailable(f"unknown open_clip model '{name}' (MODERATION_CLIP_MODEL)")
    return name


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cached_tag_file(cfg: dict[str, Any]) -> str | None:
    """The local file for a pretrained tag if it is already in the hub or URL cache, else None."""
    if cfg.get("file"):
        return str(cfg["file"]) if Path(cfg["file"]).is_file() else None
    if cfg.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(cfg["hf_hub"])
        filename = filename or HF_WEIGHTS_NAME
        candidates = [filename]
        if filename.endswith((".bin", ".pth")):
            candidates.insert(0, filename[:-4] + ".safetensors")
        if filename == HF_WEIGHTS_NAME:
            candidates.insert(0, "open_clip_model.safetensors")
        for candidate in candidates:
            found = try_to_load_from_cache(repo_id, candidate)
            if isinstance(found, str):
                return found
        return None
    if cfg.get("url"):
        target = Path("~/.cache/clip").expanduser() / os.path.basename(cfg["url"])
        return str(target) if target.is_file() else None
    return None


def _tag_preprocess_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """What open_clip would take from a tag's config, for when we hand it the cached file directly."""
    kwargs: dict[str, Any] = {"force_quick_gelu": bool(cfg.get("quick_gelu", False))}
    for src, dst in (("mean", "image_mean"), ("std", "image_std"), ("interpolation", "image_interpolation")):
        if cfg.get(src) is not None:
            kwargs[dst] = cfg[src]
    if cfg.get("resize_mode") is not None:
        kwargs["image_resize_mode"] = cfg["resize_mode"]
    return kwargs


def resolve_weights(settings: Settings, name: str) -> tuple[str, str, dict[str, Any]]:
    """Decide where the weights come from: (open_clip `pretrained` argument, model id, extra kwargs).

    A local `clip_weights` file wins. Otherwise the pretrained tag is used from the local cache when
    present; when it is not cached and the hub is offline, fail at once instead of retrying.
    """
    if settings.clip_weights is not None:
        path = Path(settings.clip_weights)
        if not path.is_file():
            raise ModelUnavailable(f"weights file {path} does not exist (MODERATION_CLIP_WEIGHTS)")
        return str(path), f"{name}@sha256:{_file_digest(path)[:12]}", {}
    tag = settings.clip_pretrained
    if not tag:
        raise ModelUnavailable(
            "no weights configured: set MODERATION_CLIP_WEIGHTS or MODERATION_CLIP_PRETRAINED"
        )
    cfg = open_clip.get_pretrained_cfg(name, tag)
    if not cfg:
        tags = ", ".join(t for m, t in open_clip.list_pretrained() if m == name) or "none"
        raise ModelUnavailable(f"unknown pretrained tag '{tag}' for {name} (known: {tags})")
    model_id = f"{name}@{tag}"
    cached = _cached_tag_file(cfg)
    if cached is not None:
        return cached, model_id, _tag_preprocess_kwargs(cfg)
    if hub_offline():
        raise ModelUnavailable(
            f"weights for {model_id} are not in the local cache and HF_HUB_OFFLINE is set; "
            "set MODERATION_CLIP_WEIGHTS to a local .pt/.safetensors file"
        )
    source = cfg.get("url") if not cfg.get("hf_hub") else hub_endpoint()
    problem = unreachable(str(source))
    if problem:
        # huggingface_hub would retry for a minute or more before giving up; say why at once instead.
        raise ModelUnavailable(
            f"weights for {model_id} are not in the local cache and {problem}; "
            "set MODERATION_CLIP_WEIGHTS (and HF_HUB_OFFLINE=1) on servers without internet"
        )
    return tag, model_id, {}


def load_model(settings: Settings) -> LoadedModel:
    """Build the model named by the settings and load its weights. Raises `ModelUnavailable`."""
    started = time.perf_counter()
    name = _model_name(settings)
    pretrained, model_id, kwargs = resolve_weights(settings, name)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device="cpu", **kwargs
        )
        tokenizer = open_clip.get_tokenizer(name)
    except Exception as exc:  # any failure (download, shape mismatch, bad file) means unavailable
        raise ModelUnavailable(f"loading {model_id} failed: {type(exc).__name__}: {exc}") from exc
    model.eval()
    visual: Any = model.visual
    size = visual.image_size
    image_size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    with torch.inference_mode():
        embed_dim = int(model.encode_text(tokenizer(["a"]), normalize=True).shape[1])
    loaded = LoadedModel(
        model=model,
        preprocess=preprocess,
        tokenizer=tokenizer,
        model_id=model_id,
        embed_dim=embed_dim,
        image_size=image_size,
    )
    log.info(
        "classifier model %s loaded in %.2f s (embed_dim %d, image %dx%d, %d torch threads)",
        model_id,
        time.perf_counter() - started,
        loaded.embed_dim,
        *image_size,
        torch.get_num_threads(),
    )
    return loaded
