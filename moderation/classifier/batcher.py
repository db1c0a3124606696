"""Gathers concurrent asyncio requests into batches and runs each batch on a worker thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class BatcherClosed(RuntimeError):
    """Raised to callers whose items were still queued when the batcher closed."""


class AsyncBatcher(Generic[In, Out]):
    """Micro-batching in front of a function that is cheaper per item in batches (a forward pass).

    Lifecycle: create it with the batch function and the executor to run it on; `submit()` from any
    coroutine; the collecting task starts on first use in the running event loop (a new loop, as in
    tests, gets a fresh queue). A batch closes when it has `max_batch` items or `max_wait_s` after its
    first item arrived; the batch function runs on `executor`, so the event loop never blocks, and the
    next batch gathers while the current one runs. `close()` cancels the task and fails queued items.

    `fn` takes a list of items and returns one output per item, in order.
    """

    def __init__(
        self,
        fn: Callable[[list[In]], list[Out]],
        executor: concurrent.futures.Executor,
        *,
        max_batch: int,
        max_wait_s: float,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._fn = fn
        self._executor = executor
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]] | None = None
        self._full: asyncio.Event | None = None
        self._wanted = max_batch
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.items = 0

    @property
    def queue_depth(self) -> int:
        """Images waiting for a batch (read by the metrics sampler from another thread)."""
        queue = self._queue
        return queue.qsize() if queue is not None else 0

    def _ensure_running(self) -> asyncio.Queue[tuple[In, asyncio.Future[Out]]]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._full = asyncio.Event()
            self._task = loop.create_task(self._collect(self._queue, self._full), name="classifier-batcher")
        assert self._queue is not None
        return self._queue

    async def submit(self, items: Sequence[In]) -> list[Out]:
        """Queue `items` and wait for their outputs (possibly computed across several batches)."""
        if self._closed:
            raise BatcherClosed("the batcher is closed")
        if not items:
            return []
        queue = self._ensure_running()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Out]] = [loop.create_future() for _ in items]
        for item, future in zip(items, futures, strict=True):
            queue.put_nowait((item, future))
        if self._full is not None and queue.qsize() >= self._wanted:
            self._full.set()
        try:
            return list(await asyncio.gather(*futures))
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    async def _collect(
        self, queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]], full: asyncio.Event
    ) -> None:
        batch: list[tuple[In, asyncio.Future[Out]]] = []
        try:
            while True:
                batch = [await queue.get()]
                await self._gather(queue, full, batch)
                await self._run(batch)
        except asyncio.CancelledError:
            for _, future in batch:
                if not future.done():
                    future.set_exception(BatcherClosed("the batcher closed before this item ran"))
            raise

    async def _gather(
        self,
        queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]],
        full: asyncio.Event,
        batch: list[tuple[In, asyncio.Future[Out]]],
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        self._drain(queue, batch)
        while len(batch) < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._wanted = self.max_batch - len(batch)
            full.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(full.wait(), remaining)
            self._drain(queue, batch)
        self._wanted = self.max_batch

    async def _run(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        live = [(item, future) for item, future in batch if not future.done()]
        if not live:
            return
        loop = asyncio.get_running_loop()
        try:
            outputs = await loop.run_in_executor(self._executor, self._fn, [item for item, _ in live])
            if len(outputs) != len(live):
                raise RuntimeError(f"batch function returned {len(outputs)} outputs for {len(live)} items")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every caller in the batch
            for _, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        self.items += len(live)
        for (_, future), output in zip(live, outputs, strict=True):
            if not future.done():
                future.set_result(output)

    def _drain(
        self,
        queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]],
        batch: list[tuple[In, asyncio.Future[Out]]],
    ) -> None:
        while len(batch) < self.max_batch:
            try:
                batch.append(queue.get_nowait())
            except asyncio.QueueEmpty:
                return

    async def aclose(self) -> None:
        """Stop collecting and fail whatever is still queued (in the current event loop)."""
        self.close()
        if self._task is not None and self._loop is asyncio.get_running_loop():
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def close(self) -> None:
        """Stop accepting items; cancel the collecting task and fail queued items. Thread-safe."""
        self._closed = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._shutdown()
        else:
            loop.call_soon_threadsafe(self._shutdown)

    def _shutdown(self) -> None:
        if self._queue is not None:
            while not self._queue.empty():
                _, future = self._queue.get_nowait()
                if not future.done():
                    future.set_exception(BatcherClosed("the batcher closed before this item ran"))
        if self._task is not None and not self._task.done():
            self._task.cancel()
