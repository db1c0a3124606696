"""Stay-down robustness: frame trimming, bank variants, the query rule, and a small evaluation run."""

from __future__ import annotations

from PIL import Image

from benchmarks.evaluation import TRANSFORMATIONS, evaluate, generate_image
from moderation.hashing.intake import ImageLimits, decode_image
from moderation.hashing.robust import (
    PLAIN,
    RobustPlan,
    VariantHash,
    bank_variants,
    frame_box,
    match_query,
    query_hashes,
)

from .factories import encode


def test_frame_box_finds_border_and_caption_bar() -> None:
    content = generate_image(4).resize((300, 200))
    framed = Image.new("RGB", (340, 240), (255, 255, 255))
    framed.paste(content, (20, 20))
    assert frame_box(framed) == (20, 20, 320, 220)
    assert frame_box(content) is None


def test_bank_variants_are_tagged_pdq_rows() -> None:
    image = decode_image(encode(generate_image(2)), ImageLimits()).image
    nothing = RobustPlan(
        crop_fractions=(),
        crop_sides=(),
        corner_fractions=(),
        hue_shifts=(),
        brightness_factors=(),
        saturation_factors=(),
        trim=False,
    )
    plain_only = bank_variants(image, plan=nothing)
    variants = bank_variants(image)
    rotated = bank_variants(image, rotations=True)
    assert [v.variant for v in plain_only] == [PLAIN]
    assert variants[0].variant == PLAIN and variants[0].value == plain_only[0].value
    assert len({v.variant for v in variants}) == len(variants) > 20
    assert {"rotate90", "flip_y"} <= {v.variant for v in rotated}
    assert all(len(v.value) == 64 and v.hash_type == "pdq" for v in rotated)


def test_flat_images_get_no_variants() -> None:
    flat = Image.new("RGB", (200, 200), (120, 130, 140))
    assert [v.variant for v in bank_variants(flat, rotations=True)] == [PLAIN]


def test_match_query_reports_best_variant_and_respects_threshold() -> None:
    image = decode_image(encode(generate_image(9)), ImageLimits()).image
    query = query_hashes(image)
    near = f"{int(query.pdq, 16) ^ 0b111:064x}"
    far = f"{int(query.pdq, 16) ^ ((1 << 40) - 1):064x}"
    stored = [VariantHash(PLAIN, far, 100), VariantHash("crop_left_2", near, 100)]
    match = match_query(query, stored)
    assert match is not None and (match.variant, match.distance) == ("crop_left_2", 3)
    assert match_query(query, stored[:1]) is None
    assert match_query(query, stored[:1], threshold=40) is not None


def test_small_evaluation_meets_targets() -> None:
    """A reduced run of benchmarks/robust_matching.py: every transformation, 3 originals, 40 distinct."""
    report = evaluate(3, 40, seed=21)
    assert {r.name for r in report.per_transform} == {t.name for t in TRANSFORMATIONS}
    assert report.recall >= 0.98, report.table()
    assert report.plain_recall < 0.7  # the evaluation is hard enough that plain PDQ alone fails it
    assert report.false_match_pairs == 0


def test_corner_crops_match_through_corner_variants() -> None:
    """A copy cropped 3% off the left and the top is missed by the one-side grid, matched by a corner row."""
    original = generate_image(31)
    image = decode_image(encode(original), ImageLimits()).image
    dx, dy = round(original.width * 0.03), round(original.height * 0.03)
    cropped = original.crop((dx, dy, original.width, original.height))
    query = query_hashes(decode_image(encode(cropped), ImageLimits()).image)
    without_corners = bank_variants(image, plan=RobustPlan(corner_fractions=()))
    with_corners = bank_variants(image)
    assert not any(v.variant.startswith("crop_top_left") for v in without_corners)
    assert len(with_corners) == len(without_corners) + 8
    assert match_query(query, without_corners) is None
    match = match_query(query, with_corners)
    assert match is not None and match.variant.startswith("crop_top_left_"), match
