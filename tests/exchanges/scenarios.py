"""The same story told by each fake exchange: a first list (five PDQ hashes and a video MD5), then a
change (one new hash, one withdrawn, one whose opinions changed). `expected_*` are the bank rows."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from tests.exchanges import fakes
from tests.factories import random_pdq

BASE_TS = 1_790_000_000
VIDEO_MD5 = "9e107d9d372bb6826bd81d3542a419d6"


@dataclass
class Scenario:
    pdqs: list[str]
    new_pdq: str

    @property
    def first(self) -> set[tuple[str, str]]:
        return {("pdq", v) for v in self.pdqs} | {("md5", VIDEO_MD5)}

    @property
    def after_change(self) -> set[tuple[str, str]]:
        return (self.first - {("pdq", self.pdqs[0])}) | {("pdq", self.new_pdq)}


def scenario(seed: int = 21) -> Scenario:
    rng = random.Random(seed)
    return Scenario([random_pdq(rng) for _ in range(5)], random_pdq(rng))


def seed(fake: fakes.FakeExchanges, kind: str, s: Scenario, file: Path) -> None:
    state = fake.state
    if kind == "ncmec":
        # Two members; member 7's entry 100 carries a PDQ and an (image) MD5 the exchange does not map.
        state.ncmec = [
            {
                "id": f"e{i}",
                "member": 7 if i % 2 else 8,
                "ts": BASE_TS + 100 * i,
                "classification": "A1",
                "fingerprints": {"pdq": v, "md5": f"{i:032x}"},
            }
            for i, v in enumerate(s.pdqs)
        ] + [
            {
                "id": "v1",
                "member": 7,
                "type": "video",
                "ts": BASE_TS + 1000,
                "fingerprints": {"md5": VIDEO_MD5},
            }
        ]
    elif kind == "stopncii":
        state.stopncii = [fakes.stopncii_record(v, BASE_TS + i) for i, v in enumerate(s.pdqs)] + [
            fakes.stopncii_record(VIDEO_MD5, BASE_TS + 10, kind="VideoMD5")
        ]
    elif kind == "tat":
        state.tat = [fakes.tat_record(v, i + 1, BASE_TS + i * 1.5) for i, v in enumerate(s.pdqs)] + [
            fakes.tat_record(VIDEO_MD5, 50, BASE_TS + 20.0, algorithm="MD5", file_type="mp4"),
            # An image MD5: TCAP's adapter takes MD5 only for video files.
            fakes.tat_record("0" * 31 + "1", 51, BASE_TS + 21.0, algorithm="MD5", file_type="jpg"),
        ]
    elif kind == "threatexchange":
        state.te = [fakes.te_record(i + 1, v, BASE_TS + i) for i, v in enumerate(s.pdqs)] + [
            fakes.te_record(60, VIDEO_MD5, BASE_TS + 30, kind="HASH_VIDEO_MD5")
        ]
    elif kind == "file":
        file.write_text("".join(f"pdq {v}\n" for v in s.pdqs) + f"video_md5 {VIDEO_MD5}\n")


def change(fake: fakes.FakeExchanges, kind: str, s: Scenario, file: Path) -> None:
    """Withdraw the first hash, add a new one, change the opinions on the second."""
    state = fake.state
    late = BASE_TS + 5000  # after the first fetch (the NCMEC test clock moves past it)
    if kind == "ncmec":
        state.ncmec[0] = {"id": "e0", "member": 8, "ts": late, "deleted": True}
        state.ncmec[1] = {**state.ncmec[1], "ts": late + 1, "classification": "B1"}
        state.ncmec.append(
            {
                "id": "e9",
                "member": 7,
                "ts": late + 2,
                "classification": "A1",
                "fingerprints": {"pdq": s.new_pdq},
            }
        )
    elif kind == "stopncii":
        state.stopncii[0] = fakes.stopncii_record(s.pdqs[0], late, status="Withdrawn")
        second = fakes.stopncii_record(s.pdqs[1], late + 1)
        second["CSPFeedbacks"].append({"feedbackValue": "NotBlocked", "tags": [], "source": "ThirdCSP"})
        state.stopncii[1] = second
        state.stopncii.append(fakes.stopncii_record(s.new_pdq, late + 2))
    elif kind == "tat":
        state.tat[0] = fakes.tat_record(s.pdqs[0], 1, late, deleted=True)
        state.tat.append(fakes.tat_record(s.new_pdq, 99, late + 2))
    elif kind == "threatexchange":
        state.te[0] = fakes.te_record(1, s.pdqs[0], late, delete=True)
        state.te[1] = fakes.te_record(2, s.pdqs[1], late + 1, status="NON_MALICIOUS")
        state.te.append(fakes.te_record(99, s.new_pdq, late + 2))
    elif kind == "file":
        # The library's file exchange re-reads the file and reports what it holds: additions only.
        file.write_text(file.read_text() + f"pdq {s.new_pdq}\n")


# Records the second fetch receives: only what changed since the checkpoint (ThreatExchange's
# `start_time` is inclusive, so the record at the checkpoint's second comes again; the file is re-read).
SECOND_FETCH_RECORDS = {"ncmec": 3, "stopncii": 3, "tat": 2, "threatexchange": 4, "file": 7}
# Whether the exchange reports withdrawals, and whether this story changes opinions on a kept record.
REMOVES = {"ncmec": True, "stopncii": True, "tat": True, "threatexchange": True, "file": False}
UPDATES = {"ncmec": True, "stopncii": True, "tat": False, "threatexchange": True, "file": False}
