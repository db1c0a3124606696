"""The torchvision shim: torchvision and open_clip import on the CPU-only torch; the shim is idempotent."""

from __future__ import annotations

import subprocess
import sys

from moderation.classifier import torchvision_compat


def test_fresh_interpreter_imports_torchvision_after_the_shim() -> None:
    code = (
        "import moderation.classifier.torchvision_compat as shim, torch, torchvision, open_clip\n"
        "import torchvision.transforms\n"
        "ops = torch.ops.torchvision\n"
        "print(shim._applied, hasattr(ops, 'nms'), hasattr(ops, 'qnms'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    applied, nms, qnms = done.stdout.split()
    assert applied in {"True", "False"}  # False where torchvision's own extension loads
    assert (nms, qnms) == ("True", "True")


def test_second_call_changes_nothing() -> None:
    first = torchvision_compat._applied
    assert torchvision_compat.ensure_torchvision_importable() is first
    assert torchvision_compat.ensure_torchvision_importable() is first
