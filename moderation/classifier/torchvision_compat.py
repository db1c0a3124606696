"""Lets `import torchvision` work on a CPU-only torch when torchvision's compiled extension cannot load.

PyPI has no CPU build of torchvision: torchvision 0.28.0 is CUDA-built, so its `_C` extension fails to
load against the CPU torch 2.13.0. torchvision then imports `_meta_registrations`, which registers fake
kernels for `torchvision::nms` and `torchvision::qnms` and fails with "operator torchvision::nms does not
exist". Defining just those two operator schemas (no kernels) is enough for the import to succeed;
torchvision's C++ ops (nms, roi_align, ...) stay unavailable, which is fine because open_clip only uses
its transforms.

`ensure_torchvision_importable()` must run before anything imports torchvision (the classifier package
calls it on import). Where the real extension loads, it changes nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import torch

log = logging.getLogger(__name__)

# Schemas as torchvision 0.28 declares them in csrc/ops/nms.cpp and csrc/ops/quantized/cpu/qnms_kernel.cpp.
_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}

# Kept alive for the life of the process: dropping a Library object unregisters its definitions.
_library: torch.library.Library | None = None
_applied: bool | None = None


def _operator_exists(name: str) -> bool:
    return hasattr(torch.ops.torchvision, name)


def _real_extension_loads() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return False
    for candidate in sorted(Path(spec.origin).parent.glob("_C*")):
        if candidate.suffix not in {".so", ".pyd", ".dylib"}:
            continue
        try:
            torch.ops.load_library(str(candidate))
        except (OSError, RuntimeError):
            return False
        return True
    return False


def ensure_torchvision_importable() -> bool:
    """Define the missing operator schemas if needed. Returns True when the workaround is in effect.

    Idempotent; a no-op when torchvision is already imported or its extension loads.
    """
    global _library, _applied
    if _applied is not None:
        return _applied
    if "torchvision" in sys.modules or all(_operator_exists(name) for name in _SCHEMAS):
        _applied = False
        return False
    if _real_extension_loads() and all(_operator_exists(name) for name in _SCHEMAS):
        _applied = False
        return False
    _library = torch.library.Library("torchvision", "FRAGMENT")
    for name, schema in _SCHEMAS.items():
        if not _operator_exists(name):
            _library.define(schema)
    log.debug("torchvision C++ extension unavailable: defined %s schemas only", ", ".join(_SCHEMAS))
    _applied = True
    return True


ensure_torchvision_importable()
