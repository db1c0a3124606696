"""The process-wide classifier: background model loading, state for /readyz, batched classification."""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from moderation.classifier.batcher import AsyncBatcher, BatcherClosed
from moderation.classifier.interface import ClassifierFailed, ClassifierState, ClassifierUnavailable
from moderation.classifier.model import LoadedModel, ModelUnavailable, load_model
from moderation.classifier.results import ClassifierResult, ModelInfo
from moderation.classifier.scoring import PromptBank, PromptBankError
from moderation.config import Settings
from moderation.exceptions import CorruptImage, EmptyImage, PolicyError
from moderation.policy.categories import CategoryPolicy

log = logging.getLogger(__name__)

# Decoding and resizing release the GIL; two threads keep up with a CPU forward pass.
_PREPROCESSING_THREADS = 2


@dataclass(frozen=True)
class _Item:
    pixels: concurrent.futures.Future[torch.Tensor]
    with_embedding: bool


class ClassifierRuntime:
    """The open_clip classifier for one process (implements `ImageClassifier`).

    Lifecycle: `ClassifierRuntime(settings, categories)` loads nothing. `start()` returns at once and
    loads the model on the runtime's single worker thread (state `loading`), embeds the categories'
    prompts, then becomes `ready`, or `unavailable` with a reason (no weights, offline hub, bad file,
    probe/model mismatch). `disabled` when `classifier_enabled` is false. While ready, `classify()`
    starts preprocessing its images on a two-thread pool and queues them for the batcher at once
    (concurrent callers share forward passes, which run on the worker thread; the next batch is
    preprocessed while the current one runs); `classify_sync()` runs batches on the same worker thread
    for the CLI. `set_categories()` swaps in a new policy version; its prompts are embedded once, before
    the next batch. `close()` fails queued work with `classifier_unavailable` and stops the threads.
    """

    def __init__(self, settings: Settings, categories: CategoryPolicy) -> None:
        self._settings = settings
        self._categories = categories
        self._lock = threading.Lock()
        self._settled = threading.Event()
        self._state = ClassifierState.UNAVAILABLE if settings.classifier_enabled else ClassifierState.DISABLED
        self._reason: str | None = "not started" if settings.classifier_enabled else "disabled by settings"
        self._loaded_in_s: float | None = None
        self._loaded: LoadedModel | None = None
        self._bank: PromptBank | None = None
        self._info: ModelInfo | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._preprocessing: concurrent.futures.ThreadPoolExecutor | None = None
        self._batcher: AsyncBatcher[_Item, ClassifierResult | Exception] | None = None
        self.forward_passes = 0
        self.images_classified = 0
        if not settings.classifier_enabled:
            self._settled.set()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin loading the model on the worker thread and return immediately; idempotent."""
        with self._lock:
            if self._state is ClassifierState.DISABLED:
                log.info("classifier disabled (MODERATION_CLASSIFIER_ENABLED=false)")
                return
            if self._executor is not None:
                return
            self._state, self._reason = ClassifierState.LOADING, None
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="classifier", initializer=self._init_thread
            )
            self._preprocessing = concurrent.futures.ThreadPoolExecutor(
                max_workers=_PREPROCESSING_THREADS, thread_name_prefix="classifier-prep"
            )
            self._batcher = AsyncBatcher(
                self._run_batch,
                self._executor,
                max_batch=max(1, self._settings.classifier_batch_size),
                max_wait_s=self._settings.classifier_max_wait_ms / 1000.0,
            )
            self._executor.submit(self._load)

    def _init_thread(self) -> None:
        # torch's intra-op thread count is set per calling thread under OpenMP, so set it where we infer.
        if self._settings.clip_threads:
            torch.set_num_threads(self._settings.clip_threads)

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            loaded = load_model(self._settings)
            bank = PromptBank(loaded, self._categories)
            info = ModelInfo(
                id="open_clip", version=loaded.model_id, sha256=_file_sha256(self._settings.clip_weights)
            )
        except (ModelUnavailable, PromptBankError) as exc:
            self._become_unavailable(str(exc))
            return
        except Exception as exc:  # whatever went wrong, report it rather than die
            log.exception("classifier failed to load")
            self._become_unavailable(f"{type(exc).__name__}: {exc}")
            return
        with self._lock:
            if self._state is not ClassifierState.LOADING:
                return  # closed while loading
            self._loaded, self._bank, self._info = loaded, bank, info
            self._loaded_in_s = round(time.perf_counter() - started, 3)
            self._state = ClassifierState.READY
        log.info(
            "classifier ready: %s, %d categories, policy %s, in %.2f s",
            loaded.model_id,
            len(self._categories.categories),
            self._categories.policy_version,
            self._loaded_in_s,
        )
        self._settled.set()

    def _become_unavailable(self, reason: str) -> None:
        with self._lock:
            if self._state is ClassifierState.LOADING:
                self._state, self._reason = ClassifierState.UNAVAILABLE, reason
        log.warning("classifier unavailable: %s", reason)
        self._settled.set()

    def status(self) -> dict[str, Any]:
        """State for /readyz: state, reason, model id, load seconds, policy version, batching settings.
        `required` is false: an unavailable classifier does not make the service unready."""
        with self._lock:
            return {
                "state": self._state.value,
                "reason": self._reason,
                "model": self._loaded.model_id if self._loaded else None,
                "loaded_in_s": self._loaded_in_s,
                "policy_version": self._categories.policy_version,
                "batch_size": self._settings.classifier_batch_size,
                "max_wait_ms": self._settings.classifier_max_wait_ms,
                "threads": self._settings.clip_threads,
                "required": False,
                "queue_depth": self._batcher.queue_depth if self._batcher else 0,
                "batches": self._batcher.batches if self._batcher else 0,
                "batched_images": self._batcher.items if self._batcher else 0,
            }

    @property
    def state(self) -> ClassifierState:
        return self._state

    @property
    def info(self) -> ModelInfo | None:
        """The loaded model's id, version (`name@pretrained`) and weights checksum (a local file only)."""
        return self._info

    @property
    def categories(self) -> CategoryPolicy:
        """The categories policy the next batch will be scored with."""
        return self._categories

    def wait_settled(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until loading has finished one way or the other (or `timeout`); returns `status()`."""
        self._settled.wait(timeout)
        return self.status()

    def set_categories(self, categories: CategoryPolicy) -> None:
        """Use a new categories policy from the next batch on. Raises `PolicyError` when a probe
        does not fit the loaded model; the prompts are embedded lazily, once."""
        loaded = self._loaded
        if loaded is not None:
            for category in categories.categories:
                if category.probe is not None and category.probe.dim != loaded.embed_dim:
                    raise PolicyError(
                        f"{categories.source}: category '{category.id}' probe has {category.probe.dim} "
                        f"weights, model {loaded.model_id} embeds in {loaded.embed_dim} dimensions"
                    )
        self._categories = categories

    def close(self) -> None:
        """Fail queued work with `classifier_unavailable` and stop the worker thread."""
        with self._lock:
            if self._state is not ClassifierState.DISABLED:
                self._state, self._reason = ClassifierState.UNAVAILABLE, "closed"
            executor, batcher, pool = self._executor, self._batcher, self._preprocessing
        if batcher is not None:
            batcher.close()
        for each in (executor, pool):
            if each is not None:
                each.shutdown(wait=False, cancel_futures=True)
        self._settled.set()

    # --- classification -----------------------------------------------------------------------

    def _require_ready(
        self,
    ) -> tuple[
        AsyncBatcher[_Item, ClassifierResult | Exception],
        concurrent.futures.Executor,
        concurrent.futures.Executor,
    ]:
        with self._lock:
            state, reason = self._state, self._reason
            batcher, executor, pool = self._batcher, self._executor, self._preprocessing
        if state is not ClassifierState.READY or batcher is None or executor is None or pool is None:
            why = reason or (
                "the model is still loading" if state is ClassifierState.LOADING else state.value
            )
            raise ClassifierUnavailable(
                f"the classifier is {state.value}: {why}",
                details={"state": state.value, "reason": why},
            )
        return batcher, executor, pool

    def _prepare(self, image: Image.Image, position: int) -> torch.Tensor:
        """PIL image -> model input tensor; runs on the preprocessing pool."""
        loaded = self._loaded
        assert loaded is not None
        try:
            image.load()
            if image.mode not in _PIL_CONVERTIBLE:
                # 16-bit and float modes: scale to 8 bits rather than let `convert` clip them.
                image = _to_8bit(image)
            return loaded.preprocess(image)
        except (OSError, ValueError, SyntaxError, TypeError) as exc:
            raise CorruptImage(
                f"image {position} cannot be prepared for the classifier: {exc}",
                details={"index": position},
            ) from exc

    def _items(
        self, images: list[Image.Image], with_embeddings: bool | None, pool: concurrent.futures.Executor
    ) -> list[_Item]:
        """Check the images, start preprocessing each on the pool, and wrap them for the batcher."""
        for position, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise TypeError(f"image {position} is a {type(image).__name__}, not a PIL image")
            if image.width == 0 or image.height == 0:
                raise EmptyImage(f"image {position} has no pixels", details={"index": position})
        keep = self._settings.store_embeddings if with_embeddings is None else with_embeddings
        try:
            return [_Item(pool.submit(self._prepare, image, i), keep) for i, image in enumerate(images)]
        except RuntimeError as exc:  # the pool has shut down
            raise _closed() from exc

    def _run_batch(self, items: list[_Item]) -> list[ClassifierResult | Exception]:
        """One forward pass over a batch; runs on the worker thread only. An image that could not be
        preprocessed gets its exception in place of a result, so it fails only its own request."""
        loaded, categories = self._loaded, self._categories
        assert loaded is not None
        outputs: list[ClassifierResult | Exception] = []
        ready: list[tuple[int, torch.Tensor, bool]] = []
        for index, item in enumerate(items):
            try:
                ready.append((index, item.pixels.result(), item.with_embedding))
                outputs.append(_PENDING)
            except Exception as exc:  # noqa: BLE001 - handed back to the request that sent this image
                outputs.append(exc)
        if ready:
            bank = self._bank
            if bank is None or bank.policy is not categories:
                bank = self._bank = PromptBank(loaded, categories)
            embeddings = loaded.encode_images(torch.stack([pixels for _, pixels, _ in ready]))
            self.forward_passes += 1
            self.images_classified += len(ready)
            results = bank.results(embeddings, [keep for _, _, keep in ready])
            for (index, _, _), result in zip(ready, results, strict=True):
                outputs[index] = result
        return outputs

    async def classify(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        """Score each image; concurrent calls share forward passes. One result per image, in order.

        `with_embeddings` defaults to the `store_embeddings` setting. Raises `ClassifierUnavailable`
        unless ready, `EmptyImage`/`CorruptImage` for unusable images, `ClassifierFailed` if the
        model itself fails. Preprocessing starts at once on a small thread pool and overlaps the
        forward pass of the batch before.
        """
        batcher, _, pool = self._require_ready()
        items = self._items(images, with_embeddings, pool)
        try:
            outputs = await batcher.submit(items)
        except BatcherClosed as exc:
            raise _closed() from exc
        except Exception as exc:  # model errors become a stable error code
            log.exception("classifier forward pass failed")
            raise ClassifierFailed(f"classification failed: {type(exc).__name__}") from exc
        return _unwrap(outputs)

    def classify_sync(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        """Blocking `classify` for the CLI and scripts (batches of `classifier_batch_size`)."""
        _, executor, pool = self._require_ready()
        items = self._items(images, with_embeddings, pool)
        size = max(1, self._settings.classifier_batch_size)
        outputs: list[ClassifierResult | Exception] = []
        for start in range(0, len(items), size):
            try:
                future = executor.submit(self._run_batch, items[start : start + size])
            except RuntimeError as exc:  # the executor has shut down
                raise _closed() from exc
            try:
                outputs.extend(future.result())
            except concurrent.futures.CancelledError as exc:
                raise _closed() from exc
            except Exception as exc:  # model errors become a stable error code
                log.exception("classifier forward pass failed")
                raise ClassifierFailed(f"classification failed: {type(exc).__name__}") from exc
        return _unwrap(outputs)


_PIL_CONVERTIBLE = {"RGB", "RGBA", "L", "LA", "P", "PA", "1", "CMYK", "YCbCr"}
_PENDING: Any = object()


def _closed() -> ClassifierUnavailable:
    return ClassifierUnavailable(
        "the classifier closed", details={"state": "unavailable", "reason": "closed"}
    )


def _unwrap(outputs: list[ClassifierResult | Exception]) -> list[ClassifierResult]:
    for output in outputs:
        if isinstance(output, concurrent.futures.CancelledError):
            raise _closed() from output
        if isinstance(output, Exception):
            raise output
    return outputs  # type: ignore[return-value]


def _file_sha256(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _to_8bit(image: Image.Image) -> Image.Image:
    import numpy as np

    array = np.asarray(image, dtype=np.float64)
    low, high = float(np.nanmin(array)), float(np.nanmax(array))
    scaled = np.zeros_like(array) if high <= low else (array - low) * (255.0 / (high - low))
    return Image.fromarray(np.nan_to_num(scaled).astype(np.uint8), mode="L")
