"""CLI commands of the `hashing` feature: `moderation hash FILE...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from moderation.config import get_settings
from moderation.exceptions import ModerationError
from moderation.hashing.hashers import hash_image_bytes
from moderation.hashing.intake import ImageLimits, read_image_file
from moderation.hashing.video import (
    VideoHashes,
    VideoHashOptions,
    VideoLimits,
    hash_video,
    sniff_video_file,
    to_vpdq_text,
)


def register(app: typer.Typer) -> None:
    """Attach this feature's commands to the top-level `moderation` CLI."""
    app.command("hash")(hash_files)


def hash_files(
    files: Annotated[list[Path], typer.Argument(help="Image or video files to hash.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    vpdq: Annotated[
        bool, typer.Option("--vpdq", help="For videos: print the frame hashes as vPDQ text (one line each).")
    ] = False,
) -> None:
    """Print SHA-256, MD5, PDQ (+ quality), pHash and dHash of each image, and SHA-256, MD5 and the
    vPDQ frame hashes (frame, PDQ, quality, seconds) of each video; exit 1 if any file failed."""

    settings = get_settings()
    limits = ImageLimits.from_settings(settings)
    video_limits = VideoLimits.from_settings(settings)
    options = VideoHashOptions.from_settings(settings)
    failures = 0
    for path in files:
        row: dict[str, Any] = {"path": str(path)}
        try:
            if path.is_file() and sniff_video_file(path):
                video = hash_video(path, video_limits, options)
                if vpdq and not as_json:
                    typer.echo(to_vpdq_text(video.frames), nl=False)
                    continue
                row.update(_video_row(video))
            else:
                row.update(hash_image_bytes(read_image_file(path, limits), limits).as_dict())
        except ModerationError as exc:
            failures += 1
            row.update(error=exc.code, message=exc.message)
        except OSError as exc:
            failures += 1
            row.update(error="unreadable_file", message=exc.strerror or str(exc))
        if as_json:
            typer.echo(json.dumps(row))
        elif "error" in row:
            typer.secho(f"{path}: error [{row['error']}] {row['message']}", err=True, fg=typer.colors.RED)
        elif "frames" in row:
            typer.echo(
                f"{path}\tsha256={row['sha256']}\tmd5={row['md5']}\tformat={row['format']}"
                f"\tduration={row['duration']}\tframes={len(row['frames'])}"
            )
        else:
            typer.echo(
                f"{path}\tsha256={row['sha256']}\tmd5={row['md5']}\tpdq={row['pdq']}"
                f"\tpdq_quality={row['pdq_quality']}\tphash={row['phash']}\tdhash={row['dhash']}"
            )
    if failures:
        raise typer.Exit(1)


def _video_row(video: VideoHashes) -> dict[str, Any]:
    return {
        "sha256": video.sha256,
        "md5": video.md5,
        "format": video.format,
        "width": video.width,
        "height": video.height,
        "duration": video.duration,
        "decoded_frames": video.decoded_frames,
        "frames": [
            {"frame": f.frame, "pdq": f.pdq, "quality": f.quality, "timestamp": f.timestamp}
            for f in video.frames
        ],
    }
