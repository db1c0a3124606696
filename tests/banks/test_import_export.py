"""Import (CSV, JSONL, PDQ hex; bad lines with numbers; strict) and export round trips, service and CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from moderation.audit.service import audit
from moderation.banks.errors import ImportRejected
from moderation.banks.formats import FileFormat, read_batches
from moderation.banks.service import banks
from moderation.cli import app as cli
from moderation.config import Settings
from moderation.db import make_engine
from tests.factories import image_bytes, random_pdq


def _all_values(session: Session, bank: str) -> list[tuple[str, str]]:
    return [(e.hash_type, e.value) for e in banks.list_entries(session, bank, limit=1000).items]


def test_pdq_hex_import_reports_bad_lines_by_number_and_keeps_good_ones(session: Session) -> None:
    banks.create(session, name="te", actor="t")
    rng = random.Random(3)
    good = [random_pdq(rng) for _ in range(5)]
    lines = [
        "# ThreatExchange export\n",
        good[0] + "\n",
        good[1].upper() + ",87\n",  # trailing fields after the hash are allowed
        "nothex" * 10 + "abcd\n",  # line 4: 64 chars, not hex
        "\n",
        good[2] + " 100 extra\n",
        good[3][:-1] + "\n",  # line 7: too short
        good[4] + "\n",
    ]
    report = banks.import_lines(session, "te", lines, fmt="pdq-hex", source="import:te.txt", actor="t")
    assert (report.lines, report.imported, report.skipped) == (8, 4, 2)
    assert [b.line for b in report.bad_lines] == [4, 7]
    assert "64 hex" in report.bad_lines[0].reason
    assert sorted(v for _, v in _all_values(session, "te")) == sorted(good[:3] + good[4:])
    session.commit()
    event = audit.page(session, action="bank.import", limit=1)[0]
    assert event.details["imported"] == 4 and event.details["skipped"] == 2


def test_strict_import_with_a_bad_line_imports_nothing(session: Session) -> None:
    banks.create(session, name="te", actor="t")
    session.commit()
    rng = random.Random(4)
    lines = [random_pdq(rng) + "\n" for _ in range(30)]
    lines[17] = "zz\n"
    with pytest.raises(ImportRejected) as caught:
        banks.import_lines(session, "te", lines, fmt="pdq-hex", source="import:x", strict=True, actor="t")
    assert caught.value.code == "import_rejected"
    assert caught.value.details["bad_lines"][0]["line"] == 18
    session.rollback()
    assert _all_values(session, "te") == []


def test_csv_and_jsonl_carry_type_and_metadata(session: Session) -> None:
    banks.create(session, name="mixed", actor="t")
    csv_lines = [
        "hash_type,value,metadata\n",
        f'pdq,{"1" * 64},"{{""case"": 1, ""tags"": [""a"", ""b""]}}"\n',
        f"md5,{'2' * 32}\n",
        f"sha1,{'3' * 40}\n",  # line 4: unknown type
        f"phash,{'4' * 16},[1]\n",  # line 5: metadata not an object
        f"dhash,{'5' * 16},\n",
    ]
    report = banks.import_lines(
        session, "mixed", csv_lines, fmt=FileFormat.CSV, source="import:a.csv", actor="t"
    )
    assert report.imported == 3 and [b.line for b in report.bad_lines] == [4, 5]
    jsonl = [
        json.dumps({"hash_type": "pdq", "value": "6" * 64, "metadata": {"src": "j"}}) + "\n",
        "{not json\n",
        json.dumps({"type": "sha256", "value": "7" * 64}) + "\n",
        json.dumps(["pdq", "8" * 64]) + "\n",
    ]
    report = banks.import_lines(session, "mixed", jsonl, fmt="jsonl", source="import:b.jsonl", actor="t")
    assert report.imported == 2 and [b.line for b in report.bad_lines] == [2, 4]
    entries = {e.value: e for e in banks.list_entries(session, "mixed", limit=100).items}
    assert entries["1" * 64].meta == {"case": 1, "tags": ["a", "b"]}
    assert entries["6" * 64].meta == {"src": "j"} and entries["7" * 64].hash_type == "sha256"


def test_batches_are_streamed_not_read_whole() -> None:
    consumed = 0

    def lines():  # a generator: read_batches must pull it lazily
        nonlocal consumed
        for i in range(10_000):
            consumed += 1
            yield f"{i:064x}\n"

    batches = read_batches(lines(), FileFormat.PDQ_HEX, batch_size=1000)
    first = next(batches)
    assert len(first.hashes) == 1000 and consumed <= 1001


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "pdq-hex"])
def test_export_round_trip(session: Session, settings: Settings, fmt: str) -> None:
    banks.create(session, name="src", actor="t")
    rng = random.Random(5)
    pdqs = [random_pdq(rng) for _ in range(40)]
    banks.add_hashes(
        session, "src", [("pdq", v) for v in pdqs], source="upload", metadata={"k": 'v,"q"'}, actor="t"
    )
    banks.add_hashes(session, "src", [("md5", "9" * 32)], source="upload", actor="t")
    banks.create(session, name="dst", actor="t")
    session.commit()
    engine = make_engine(settings.resolved_database_url, sqlite_immediate=False)
    exported = list(banks.stream_export(engine, "src", fmt))
    engine.dispose()
    report = banks.import_lines(session, "dst", exported, fmt=fmt, source="import:rt", actor="t")
    assert report.skipped == 0
    expected = {("pdq", v) for v in pdqs} | ({("md5", "9" * 32)} if fmt != "pdq-hex" else set())
    assert set(_all_values(session, "dst")) == expected
    if fmt != "pdq-hex":
        metas = {e.value: e.meta for e in banks.list_entries(session, "dst", limit=100).items}
        assert metas[pdqs[0]] == {"k": 'v,"q"'}


def test_cli_create_import_export_and_list(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["bank", "create", "te", "--action", "review", "--threshold", "pdq=20", "--rotations"]
    )
    assert result.exit_code == 0, result.output
    assert "pdq': 20" in result.output
    rng = random.Random(6)
    values = [random_pdq(rng) for _ in range(12)]
    source = tmp_path / "hashes.txt"
    source.write_text("\n".join([*values[:5], "bogus", *values[5:]]) + "\n")
    result = runner.invoke(cli, ["bank", "import", "te", str(source), "--strict"])
    assert result.exit_code == 1
    assert f"{source}:6:" in result.output and "import_rejected" in result.output
    result = runner.invoke(cli, ["bank", "import", "te", str(source)])
    assert result.exit_code == 0, result.output
    assert "imported 12 hashes" in result.output and f"{source}:6:" in result.output
    out = tmp_path / "out.txt"
    result = runner.invoke(cli, ["bank", "export", "te", "--format", "pdq-hex", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().split() == values
    result = runner.invoke(cli, ["bank", "list", "--json"])
    row = json.loads(result.output.strip())
    assert (row["name"], row["action"], row["entries"], row["match_rotations"]) == ("te", "review", 12, True)
    result = runner.invoke(cli, ["bank", "import", "nope", str(source)])
    assert result.exit_code == 1 and "bank_not_found" in result.output
    result = runner.invoke(cli, ["bank", "create", "x", "--threshold", "pdq"])
    assert result.exit_code != 0


def test_cli_add_images(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["bank", "create", "up"]).exit_code == 0
    good = tmp_path / "a.jpg"
    good.write_bytes(image_bytes(8))
    bad = tmp_path / "b.jpg"
    bad.write_bytes(b"\xff\xd8\xff truncated")
    result = runner.invoke(cli, ["bank", "add", "up", str(good), str(bad)])
    assert result.exit_code == 1
    assert "a.jpg: entry" in result.output and "corrupt_image" in result.output
