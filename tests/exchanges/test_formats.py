"""HMA / python-threatexchange formats: a bank exported as `<signal type> <value>` lines imports here
(as a bank import or through the library's file exchange) and matches the same images; the
`threatexchange dataset -P --csv` output imports too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from moderation.banks.service import banks
from moderation.cli import app
from moderation.config import Settings
from moderation.hashing.intake import ImageLimits, decode_image
from moderation.hashing.robust import query_hashes
from moderation.matching.service import MatchService
from tests.exchanges.conftest import bank_rows
from tests.factories import image_bytes, jpeg

runner = CliRunner()


@pytest.fixture
def index(engine: Engine) -> Iterator[MatchService]:
    service = MatchService()
    service.start(engine, refresh_seconds=60, background=False)
    yield service
    service.stop()


def _matching_banks(index: MatchService, data: bytes) -> set[str]:
    query = query_hashes(decode_image(data, ImageLimits()))
    return {m.bank for m in index.match([("pdq", v) for v in query.pdq_values()]) if m.suppressed_by is None}


def test_an_hma_bank_export_imports_and_matches_the_same_images(
    settings: Settings, engine: Engine, session: Session, tmp_path: Path, index: MatchService
) -> None:
    banks.create(session, name="hma-src", actor="t")
    images = [image_bytes(seed) for seed in (31, 32, 33)]
    for data in images:
        banks.add_image(session, "hma-src", data, actor="t")
    session.commit()
    exported = tmp_path / "hma-src.te.txt"
    result = runner.invoke(app, ["bank", "export", "hma-src", "--format", "te", "-o", str(exported)])
    assert result.exit_code == 0, result.output
    lines = exported.read_text().splitlines()
    assert len(lines) == 3 and all(line.startswith("pdq ") and len(line) == 68 for line in lines)

    assert runner.invoke(app, ["bank", "create", "hma-imported"]).exit_code == 0
    result = runner.invoke(
        app, ["bank", "import", "hma-imported", str(exported), "--format", "te", "--strict"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "exchange",
            "add",
            "hma-file",
            "--type",
            "file",
            "--bank",
            "hma-via-exchange",
            "--file",
            str(exported),
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["exchange", "fetch", "hma-file", "--quiet"])
    assert result.exit_code == 0, result.output

    index.refresh()
    for data in images:
        assert _matching_banks(index, data) == {"hma-src", "hma-imported", "hma-via-exchange"}
    # A picture that is in no bank matches none of them.
    assert _matching_banks(index, jpeg(99)) == set()
    assert set(bank_rows(engine, "hma-imported")) == set(bank_rows(engine, "hma-via-exchange"))


def test_threatexchange_dataset_csv_imports_with_bad_lines_reported(
    settings: Settings, session: Session, tmp_path: Path
) -> None:
    source = tmp_path / "dataset.csv"
    pdq = "f" * 63 + "0"
    source.write_text(
        "signal_type,signal_str,collab,category,tags\n"
        f"pdq,{pdq},tx-collab,POSITIVE_CLASS,terrorism\n"
        f"video_md5,{'A' * 32},tx-collab,INVESTIGATION_SEED,\n"
        "url,https://example.invalid/x,tx-collab,POSITIVE_CLASS,\n"
        "pdq,not-a-hash,tx-collab,POSITIVE_CLASS,\n"
    )
    banks.create(session, name="tx", actor="t")
    session.commit()
    result = runner.invoke(app, ["bank", "import", "tx", str(source), "--format", "te-csv"])
    assert result.exit_code == 0, result.output
    assert ":4:" in result.output and "'url' is not taken" in result.output and ":5:" in result.output
    entries = banks.list_entries(session, "tx").items
    assert [(e.hash_type, e.value) for e in entries] == [("pdq", pdq), ("md5", "a" * 32)]
    assert entries[0].meta == {"collab": "tx-collab", "category": "POSITIVE_CLASS", "tags": "terrorism"}
    out = tmp_path / "back.csv"
    assert runner.invoke(app, ["bank", "export", "tx", "--format", "te-csv", "-o", str(out)]).exit_code == 0
    assert out.read_text() == f"signal_type,signal_str,collab,category,tags\npdq,{pdq},,,\n"
