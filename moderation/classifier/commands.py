"""CLI commands of the `classifier` feature: `moderation classifier info` and `... classify`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from moderation.config import get_settings
from moderation.exceptions import (
    CorruptImage,
    ImageDimensionsTooLarge,
    ImageTooLarge,
    ModerationError,
    PolicyError,
    UnsupportedFormat,
)
from moderation.policy.categories import load_categories

if TYPE_CHECKING:
    from PIL import Image

    from moderation.classifier.runtime import ClassifierRuntime

classifier_app = typer.Typer(
    help="Classifier: model status and one-off classification.", no_args_is_help=True
)


def _runtime(timeout: float) -> ClassifierRuntime:
    # Optional at run time: the runtime imports torch, which only classifier commands should load.
    from moderation.classifier.runtime import ClassifierRuntime

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        categories = load_categories(settings.policies_dir)
    except PolicyError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    runtime = ClassifierRuntime(settings, categories)
    runtime.start()
    runtime.wait_settled(timeout)
    return runtime


def _open(path: Path) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    settings = get_settings()
    if path.stat().st_size > settings.max_image_bytes:
        raise ImageTooLarge(f"{path}: larger than {settings.max_image_bytes} bytes")
    try:
        image = Image.open(path)
    except UnidentifiedImageError as exc:
        raise UnsupportedFormat(f"{path}: not an image format Pillow can read") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise CorruptImage(f"{path}: {exc}") from exc
    if image.width * image.height > settings.max_image_pixels:
        raise ImageDimensionsTooLarge(
            f"{path}: {image.width}x{image.height} exceeds {settings.max_image_pixels} pixels"
        )
    return image


@classifier_app.command("info")
def info(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the model to load.")] = 300.0,
) -> None:
    """Load the configured model and print its status and the policy categories (exit 1 unless ready)."""
    runtime = _runtime(timeout)
    status = runtime.status()
    runtime.close()
    typer.echo(json.dumps(status, indent=2))
    for category in runtime.categories.categories:
        block = " never" if category.thresholds.block is None else f">={category.thresholds.block:g}"
        flags = " child_safety" if category.child_safety else ""
        review = f"{category.thresholds.review:g}"
        typer.echo(f"{category.id:24} {category.scoring.method:12} review>={review} block{block}{flags}")
    if status["state"] != "ready":
        raise typer.Exit(1)


@classifier_app.command("classify")
def classify(
    files: Annotated[
        list[Path], typer.Argument(help="Image files to classify.", exists=True, dir_okay=False)
    ],
    embedding: Annotated[bool, typer.Option("--embedding", help="Include the image embedding.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the model to load.")] = 300.0,
) -> None:
    """Classify image files and print one JSON object per file (scores, fired thresholds, model, policy)."""

    runtime = _runtime(timeout)
    failed = False
    try:
        for path in files:
            try:
                result = runtime.classify_sync([_open(path)], with_embeddings=embedding)[0]
            except ModerationError as exc:
                typer.echo(json.dumps({"file": str(path), "error": exc.to_dict()}))
                failed = True
                if exc.code in {"classifier_unavailable", "classifier_failed"}:
                    break
                continue
            typer.echo(json.dumps({"file": str(path), **result.to_dict()}))
    finally:
        runtime.close()
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach this feature's commands to the top-level `moderation` CLI."""
    app.add_typer(classifier_app, name="classifier")
