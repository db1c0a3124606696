"""CLI commands of the `classifier` feature: `moderation classifier info`, `... classify`, `... evaluate`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from moderation.classifier.evaluation import evaluate, read_samples, write_report
from moderation.config import get_settings
from moderation.exceptions import (
    CorruptImage,
    ImageDimensionsTooLarge,
    ImageTooLarge,
    ModerationError,
    PolicyError,
    UnsupportedFormat,
)
from moderation.policy.categories import category_thresholds, load_categories
from moderation.policy.decisions import get_decisions
from moderation.policy.loader import get_policy

if TYPE_CHECKING:
    from PIL import Image

    from moderation.classifier.combined import CombinedClassifier

classifier_app = typer.Typer(
    help="Classifier: model status and one-off classification.", no_args_is_help=True
)


def _runtime(timeout: float) -> CombinedClassifier:
    # Optional at run time: the models import onnxruntime and torch, which only these commands load.
    from moderation.classifier.setup import build_classifier

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        categories = load_categories(settings.policies_dir)
    except PolicyError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    classifier = build_classifier(settings, categories)
    classifier.start()
    classifier.wait_settled(timeout)
    return classifier


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
    """Load the configured models and print their status and the policy categories (exit 1 unless ready)."""
    runtime = _runtime(timeout)
    status = runtime.status()
    runtime.close()
    typer.echo(json.dumps(status, indent=2))
    for category in runtime.categories.categories:
        block = " never" if category.thresholds.block is None else f">={category.thresholds.block:g}"
        flags = " child_safety" if category.child_safety else ""
        review = f"{category.thresholds.review:g}"
        models = ",".join(category.model_ids)
        typer.echo(f"{category.id:24} {models:20} review>={review} block{block}{flags}")
    if status["state"] != "ready":
        raise typer.Exit(1)


@classifier_app.command("classify")
def classify(
    files: Annotated[
        list[Path], typer.Argument(help="Image files to classify.", exists=True, dir_okay=False)
    ],
    embedding: Annotated[
        bool, typer.Option("--embedding", help="Include the image embedding (open_clip only).")
    ] = False,
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


@classifier_app.command("evaluate")
def evaluate_command(
    data: Annotated[
        Path,
        typer.Argument(help="A folder with one sub-folder per label, or a CSV of path,label.", exists=True),
    ],
    out: Annotated[Path, typer.Option(help="Folder for report.json and roc.png.")] = Path("evaluation"),
    target_precision: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Precision to find a threshold for.")
    ] = 0.9,
    source: Annotated[
        str, typer.Option(help="Content source the profile decides for: upload, generated, unknown.")
    ] = "unknown",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the models to load.")] = 300.0,
) -> None:
    """Score labelled images with every available model and report per category precision, recall,
    false-positive rate, ROC AUC, the threshold for a target precision, and the profile's decisions."""
    # Optional at run time: the models import onnxruntime and torch, which only these commands load.
    from moderation.classifier.setup import build_classifier

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        policy = get_policy(settings.policies_dir, settings.policy_profile)
        categories = policy.part("categories", load_categories)
        decisions = get_decisions(policy)
        samples = read_samples(data)
    except (PolicyError, ModerationError) as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    classifier = build_classifier(settings, categories)
    classifier.start()
    classifier.wait_settled(timeout)
    try:
        results = []
        for start in range(0, len(samples), max(1, settings.classifier_batch_size)):
            batch = samples[start : start + max(1, settings.classifier_batch_size)]
            results.extend(classifier.classify_sync([_open(s.path).convert("RGB") for s in batch]))
    except ModerationError as exc:
        typer.secho(f"{exc.code}: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    finally:
        classifier.close()
    report = evaluate(
        samples,
        results,
        categories,
        decisions,
        thresholds={c.id: category_thresholds(c) for c in categories.categories},
        target_precision=target_precision,
        source=source,
    )
    report["profile"] = settings.policy_profile
    report["policy_version"] = policy.version
    report_path, plot_path = write_report(report, out)
    for category_id, entry in report["categories"].items():
        if entry.get("roc_auc") is None:
            typer.echo(
                f"{category_id}: {entry['scored']} scored, not enough positives and negatives to measure"
            )
            continue
        typer.echo(
            f"{category_id} ({entry['model']}): {entry['positives']} positives, "
            f"{entry['negatives']} negatives, ROC AUC {entry['roc_auc']:.3f}"
        )
        typer.echo("  threshold  precision  recall  fpr")
        for row in entry["at_thresholds"]:
            rates = "  ".join(_pct(row[k]) for k in ("precision", "recall", "fpr"))
            typer.echo(f"  {row['threshold']:>9g}  {rates}")
        found = entry["threshold_for_target_precision"]
        typer.echo(
            f"  precision >= {target_precision:g} from threshold {found['threshold']:.4f}"
            f" (recall {_pct(found['recall'])})"
            if found
            else f"  no threshold reaches precision {target_precision:g}"
        )
    typer.echo(
        f"decisions ({settings.policy_profile} profile, source {source}): {json.dumps(report['decisions'])}"
    )
    typer.echo(f"wrote {report_path} and {plot_path}")


def _pct(value: float | None) -> str:
    return "      -" if value is None else f"{100 * value:6.1f}%"


def register(app: typer.Typer) -> None:
    """Attach this feature's commands to the top-level `moderation` CLI."""
    app.add_typer(classifier_app, name="classifier")
