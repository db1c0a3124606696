"""Whether open_clip weights can be had at all, answered without importing torch or open_clip.

Importing torch and open_clip costs seconds of CPU. A command such as `moderation check FILE` on a
machine with no weights file, nothing in the download caches and no route to the hub would pay that
only to report the classifier unavailable; `preflight()` finds that out first, from the settings, the
cache folders and one TCP probe. It only ever says "unavailable" when the full load would certainly
fail; whenever weights might be found (a file is configured, a cache holds anything, the hub answers)
it says nothing and the runtime decides.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path

from moderation.config import Settings

_TRUE = {"1", "on", "yes", "true"}
# Where open_clip fetches tags that are not on the Hugging Face hub (the OpenAI weights).
OPENAI_WEIGHTS_URL = "https://openaipublic.azureedge.net/"


def hub_offline() -> bool:
    """Whether `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is set, read now rather than at import."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in _TRUE


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def unreachable(url: str, timeout: float = 3.0) -> str | None:
    """None when a TCP connection to the URL's host opens within `timeout`, else what went wrong."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    if not host:
        return f"the download URL {url!r} has no host"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port} is unreachable ({exc})"


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, as huggingface_hub resolves it from the environment."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "huggingface" / "hub"


def _caches_hold_anything() -> bool:
    hub = hub_cache_dir()
    if hub.is_dir() and any(child.name.startswith("models--") for child in hub.iterdir()):
        return True
    url_cache = Path("~/.cache/clip").expanduser()
    return url_cache.is_dir() and any(url_cache.iterdir())


def preflight(settings: Settings) -> str | None:
    """The reason the open_clip weights cannot be loaded, when that is certain without loading them;
    None when they might be (the full load then gives the final answer and its reason)."""
    if settings.clip_model.endswith(".json") and not Path(settings.clip_model).is_file():
        return f"model config {settings.clip_model} does not exist (MODERATION_CLIP_MODEL)"
    if settings.clip_weights is not None:
        path = Path(settings.clip_weights)
        return None if path.is_file() else f"weights file {path} does not exist (MODERATION_CLIP_WEIGHTS)"
    tag = settings.clip_pretrained
    if not tag:
        return "no weights configured: set MODERATION_CLIP_WEIGHTS or MODERATION_CLIP_PRETRAINED"
    if _caches_hold_anything():
        return None
    model_id = f"{Path(settings.clip_model).stem}@{tag}"
    if hub_offline():
        return (
            f"weights for {model_id} are not in the local cache and HF_HUB_OFFLINE is set; "
            "set MODERATION_CLIP_WEIGHTS to a local .pt/.safetensors file"
        )
    problem = unreachable(hub_endpoint())
    if problem and unreachable(OPENAI_WEIGHTS_URL) is not None:
        return (
            f"weights for {model_id} are not in the local cache and {problem}; "
            "set MODERATION_CLIP_WEIGHTS (and HF_HUB_OFFLINE=1) on servers without internet"
        )
    return None
