"""Classifier throughput: the service's batching layer versus a bare open_clip forward pass, same batch size.

Usage: .venv/bin/python benchmarks/classifier_throughput.py [--model ViT-B-32] [--threads 2] [--batch 16]
           [--rounds 3] [--requests 8]

The real ViT-B-32 architecture with random weights (same speed as trained ones; nothing is downloaded).
Bare: `model.encode_image` on ready-made tensors, `--batch` at a time. Service: `ClassifierRuntime.classify`
with 2 x `--batch` concurrent single-image clients (closed loop), so the batcher always has a full
batch waiting; this includes PIL preprocessing, scoring of the shipped categories and the event loop.
Bare and service runs alternate `--rounds` times, to even out other load on the machine. Then p50/p99
latency of single-image requests at 1, 4 and 16 concurrent clients (`--requests` each).
"""

# ruff: noqa: I001 - open_clip must come after moderation.classifier (its torchvision shim)

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np
from PIL import Image

from moderation.classifier import runtime as runtime_module
from moderation.classifier.model import LoadedModel
from moderation.classifier.runtime import ClassifierRuntime
from moderation.config import PROJECT_ROOT, Settings
from moderation.policy.categories import load_categories

import open_clip
import torch

import _machine


def machine() -> str:
    return f"{_machine.machine()}, torch {torch.__version__}, open_clip {open_clip.__version__}"


def images(count: int, size: int = 256) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, size)
    out = []
    for i in range(count):
        noise = rng.integers(0, 256, (size, size), dtype=np.uint8)
        pixels = np.stack(
            [np.add.outer(ramp, ramp) / 2, noise, np.roll(ramp, i)[None, :].repeat(size, 0)], -1
        )
        out.append(Image.fromarray(pixels.astype(np.uint8), "RGB"))
    return out


def random_weights_model(name: str) -> LoadedModel:
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None)
    model.eval()
    tokenizer = open_clip.get_tokenizer(name)
    with torch.inference_mode():
        embed_dim = int(model.encode_text(tokenizer(["a"]), normalize=True).shape[1])
    size = model.visual.image_size
    return LoadedModel(
        model=model,
        preprocess=preprocess,
        tokenizer=tokenizer,
        model_id=f"{name}@random",
        embed_dim=embed_dim,
        image_size=(size, size) if isinstance(size, int) else tuple(size),
    )


def bare_throughput(loaded: LoadedModel, pixels: torch.Tensor, batches: int) -> tuple[float, float]:
    """(images per wall second, images per CPU second of this process)."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        loaded.encode_images(pixels)
    count = batches * pixels.shape[0]
    return count / (time.perf_counter() - started), count / (time.process_time() - cpu)


async def closed_loop(
    runtime: ClassifierRuntime, pool: list[Image.Image], clients: int, requests: int
) -> list[float]:
    """`clients` concurrent callers, each sending `requests` single-image requests back to back."""
    latencies: list[float] = []

    async def client(index: int) -> None:
        for n in range(requests):
            image = pool[(index * requests + n) % len(pool)]
            started = time.perf_counter()
            await runtime.classify([image])
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies


def service_throughput(
    runtime: ClassifierRuntime, pool: list[Image.Image], batch: int, batches: int
) -> tuple[float, float]:
    """(images per wall second, images per CPU second of this process, all threads)."""
    clients = 2 * batch
    per_client = max(1, batches * batch // clients)
    started, cpu = time.perf_counter(), time.process_time()
    latencies = asyncio.run(closed_loop(runtime, pool, clients, per_client))
    return len(latencies) / (time.perf_counter() - started), len(latencies) / (time.process_time() - cpu)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=3, help="batches per throughput run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=8, help="requests per client in the latency runs")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    print(f"machine: {machine()}")
    print(f"model {args.model} (random weights), {args.threads} torch threads, batch {args.batch}")

    loaded = random_weights_model(args.model)
    runtime_module.load_model = lambda settings: loaded  # same model object for bare and service
    settings = Settings(
        clip_model=args.model,
        clip_threads=args.threads,
        classifier_batch_size=args.batch,
        classifier_max_wait_ms=5.0,
    )
    runtime = ClassifierRuntime(settings, load_categories(PROJECT_ROOT / "policies"))
    runtime.start()
    status = runtime.wait_settled(120)
    assert status["state"] == "ready", status

    pool = images(4 * args.batch)
    pixels = torch.stack([loaded.preprocess(image) for image in pool[: args.batch]])
    bare_throughput(loaded, pixels, 1)  # warm-up
    runtime.classify_sync(pool[: args.batch])

    bare, service, bare_cpu, service_cpu = [], [], [], []
    for round_ in range(args.rounds):
        wall, cpu = bare_throughput(loaded, pixels, args.batches)
        bare.append(wall)
        bare_cpu.append(cpu)
        passes, classified = runtime.forward_passes, runtime.images_classified
        wall, cpu = service_throughput(runtime, pool, args.batch, args.batches)
        service.append(wall)
        service_cpu.append(cpu)
        mean_batch = (runtime.images_classified - classified) / max(1, runtime.forward_passes - passes)
        print(
            f"round {round_ + 1}: bare {bare[-1]:.2f} img/s ({bare_cpu[-1]:.2f} per CPU-s), "
            f"service {service[-1]:.2f} img/s ({service_cpu[-1]:.2f} per CPU-s), mean batch {mean_batch:.1f}"
        )
    b, s = statistics.median(bare), statistics.median(service)
    print(
        f"throughput (median of {args.rounds}): bare {b:.2f} img/s, service {s:.2f} img/s, ratio {s / b:.1%}"
    )
    b, s = statistics.median(bare_cpu), statistics.median(service_cpu)
    print(f"images per CPU-second (median): bare {b:.2f}, service {s:.2f}, ratio {s / b:.1%}")

    for clients in (1, 4, 16):
        passes, classified = runtime.forward_passes, runtime.images_classified
        latencies = asyncio.run(closed_loop(runtime, pool, clients, args.requests))
        mean_batch = (runtime.images_classified - classified) / max(1, runtime.forward_passes - passes)
        print(
            f"latency, {clients:2d} concurrent: p50 {1000 * percentile(latencies, 50):.0f} ms, "
            f"p99 {1000 * percentile(latencies, 99):.0f} ms over {len(latencies)} requests "
            f"(mean batch {mean_batch:.1f})"
        )
    runtime.close()
    print(f"machine at end: {machine()}")


if __name__ == "__main__":
    main()
