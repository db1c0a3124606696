"""Batching: concurrent requests share forward passes, match one-by-one inference, never block the loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import numpy as np
import pytest
from PIL import Image

from moderation.classifier.batcher import AsyncBatcher, BatcherClosed
from moderation.classifier.interface import ClassifierFailed, ClassifierUnavailable
from moderation.classifier.results import ClassifierResult
from moderation.classifier.runtime import ClassifierRuntime

from .conftest import RuntimeFactory


def noise(seed: int, size: int = 36) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size + seed % 5, 3), dtype=np.uint8), "RGB")


def assert_same(a: ClassifierResult, b: ClassifierResult) -> None:
    assert [c.id for c in a.categories] == [c.id for c in b.categories]
    for x, y in zip(a.categories, b.categories, strict=True):
        assert x.score == pytest.approx(y.score, abs=1e-5)
        assert (x.review, x.block) == (y.review, y.block) or abs(x.score - 0.5) < 1e-4
    assert a.embedding is not None and b.embedding is not None
    assert np.allclose(a.embedding, b.embedding, atol=1e-5)


def test_concurrent_requests_share_one_forward_pass_and_match_one_by_one(
    make_runtime: RuntimeFactory,
) -> None:
    runtime = make_runtime(classifier_max_wait_ms=200.0)
    images = [noise(seed) for seed in range(6)]
    alone = [runtime.classify_sync([image], with_embeddings=True)[0] for image in images]
    before = runtime.forward_passes
    assert before == 6

    async def together() -> list[list[ClassifierResult]]:
        return await asyncio.gather(*(runtime.classify([image], with_embeddings=True) for image in images))

    batched = asyncio.run(together())
    assert runtime.forward_passes - before == 1
    for results, single in zip(batched, alone, strict=True):
        assert len(results) == 1
        assert_same(results[0], single)


def test_batches_are_capped_at_the_batch_size(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(classifier_batch_size=4, classifier_max_wait_ms=200.0)
    images = [noise(seed) for seed in range(10)]

    async def main() -> tuple[list[list[ClassifierResult]], list[ClassifierResult]]:
        singles = await asyncio.gather(*(runtime.classify([image], with_embeddings=True) for image in images))
        grouped = await runtime.classify(images, with_embeddings=True)
        return singles, grouped

    before = runtime.forward_passes
    singles, grouped = asyncio.run(main())
    assert runtime.forward_passes - before == 3 + 3  # 10 images in batches of at most 4, twice
    for single, together in zip(singles, grouped, strict=True):
        assert_same(single[0], together)
    assert len(runtime.classify_sync(images)) == 10
    assert runtime.forward_passes - before == 9


def test_mixed_concurrent_requests_get_their_own_results_in_order(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(classifier_batch_size=5, classifier_max_wait_ms=50.0)
    requests = [[noise(10 * r + i) for i in range(n)] for r, n in enumerate([3, 1, 4, 2])]
    expected = [runtime.classify_sync(images, with_embeddings=True) for images in requests]

    async def main() -> list[list[ClassifierResult]]:
        return await asyncio.gather(*(runtime.classify(images, with_embeddings=True) for images in requests))

    for got, want in zip(asyncio.run(main()), expected, strict=True):
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert_same(a, b)


def test_a_lone_request_waits_at_most_about_max_wait(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(classifier_max_wait_ms=5.0)
    image = noise(1)
    runtime.classify_sync([image])

    async def timed() -> float:
        started = time.perf_counter()
        await runtime.classify([image])
        return time.perf_counter() - started

    assert asyncio.run(timed()) < 1.0


def test_the_event_loop_keeps_running_during_a_forward_pass(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = make_runtime()
    original = runtime._run_batch

    def slow(items: list) -> list[ClassifierResult]:  # type: ignore[type-arg]
        time.sleep(0.3)
        return original(items)

    monkeypatch.setattr(runtime, "_run_batch", slow)
    monkeypatch.setattr(runtime._batcher, "_fn", slow)

    async def main() -> int:
        ticks = 0
        task = asyncio.create_task(runtime.classify([noise(2)]))
        while not task.done():
            await asyncio.sleep(0.01)
            ticks += 1
        await task
        return ticks

    assert asyncio.run(main()) >= 10


def test_model_errors_become_classifier_failed(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = make_runtime()

    def broken(items: list) -> list[ClassifierResult]:  # type: ignore[type-arg]
        raise RuntimeError("out of memory")

    monkeypatch.setattr(runtime._batcher, "_fn", broken)
    with pytest.raises(ClassifierFailed) as caught:
        asyncio.run(runtime.classify([noise(3)]))
    assert caught.value.code == "classifier_failed"
    monkeypatch.setattr(runtime, "_run_batch", broken)
    with pytest.raises(ClassifierFailed):
        runtime.classify_sync([noise(3)])


def test_closing_fails_queued_requests_as_unavailable(make_runtime: RuntimeFactory) -> None:
    runtime: ClassifierRuntime = make_runtime(classifier_max_wait_ms=10_000.0)

    async def main() -> None:
        pending = asyncio.create_task(runtime.classify([noise(4)]))
        await asyncio.sleep(0.2)  # queued, waiting for more images
        runtime.close()
        with pytest.raises(ClassifierUnavailable):
            await pending

    asyncio.run(main())


def test_batcher_runs_batches_on_the_executor_thread() -> None:
    seen_threads: set[str] = set()
    sizes: list[int] = []

    def double(items: list[int]) -> list[int]:
        import threading

        seen_threads.add(threading.current_thread().name)
        sizes.append(len(items))
        return [2 * item for item in items]

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="worker") as executor:
        batcher: AsyncBatcher[int, int] = AsyncBatcher(double, executor, max_batch=3, max_wait_s=0.05)

        async def main() -> list[list[int]]:
            results = await asyncio.gather(*(batcher.submit([i]) for i in range(7)), batcher.submit([]))
            await batcher.aclose()
            return list(results)

        results = asyncio.run(main())
    assert results == [[2 * i] for i in range(7)] + [[]]
    assert sizes == [3, 3, 1]
    assert all(name.startswith("worker") for name in seen_threads)

    async def after_close() -> None:
        await batcher.submit([1])

    with pytest.raises(BatcherClosed):
        asyncio.run(after_close())


def test_batcher_serves_a_new_event_loop() -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        batcher: AsyncBatcher[int, int] = AsyncBatcher(
            lambda xs: [x + 1 for x in xs], executor, max_batch=8, max_wait_s=0.001
        )
        assert asyncio.run(batcher.submit([1, 2])) == [2, 3]
        assert asyncio.run(batcher.submit([5])) == [6]
        batcher.close()
