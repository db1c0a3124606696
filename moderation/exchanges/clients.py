"""Adapters onto python-threatexchange's SignalExchangeAPI clients (PyPI `threatexchange`).

The library implements each exchange's API, paging and checkpoints; this module only builds its
objects from an exchange's settings and credentials. Where the library cannot be pointed at another
base URL (the NCMEC client takes the URL from an environment enum, the TCAP client from a class
constant) a two-line subclass takes `base_url`; the StopNCII and ThreatExchange clients accept an
override already. One correction: the library's StopNCII adapter (1.2.17) compares the hash *value*
with the withdrawn/deleted case states, so a withdrawal never becomes a removal; `StopNCIIExchange`
re-maps each record with the *status* compared instead, reusing the library's own client and types.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing as t
from collections.abc import Iterator, Sequence
from pathlib import Path

import dacite
from threatexchange.exchanges import fetch_state
from threatexchange.exchanges.clients.fb_threatexchange.api import ThreatExchangeAPI, is_valid_app_token
from threatexchange.exchanges.clients.ncmec import hash_api as ncmec_api
from threatexchange.exchanges.clients.stopncii import api as stopncii_api
from threatexchange.exchanges.clients.techagainstterrorism import api as tat_api
from threatexchange.exchanges.collab_config import CollaborationConfigBase, CollaborationConfigWithDefaults
from threatexchange.exchanges.fetch_state import FetchedSignalMetadata
from threatexchange.exchanges.impl.fb_threatexchange_api import (
    FBThreatExchangeCollabConfig,
    FBThreatExchangeSignalExchangeAPI,
)
from threatexchange.exchanges.impl.file_api import FileCollaborationConfig, LocalFileSignalExchangeAPI
from threatexchange.exchanges.impl.ncmec_api import (
    NCMECCollabConfig,
    NCMECSignalExchangeAPI,
    NCMECSignalMetadata,
)
from threatexchange.exchanges.impl.stop_ncii_api import (
    StopNCIICheckpoint,
    StopNCIISignalExchangeAPI,
    StopNCIISignalMetadata,
)
from threatexchange.exchanges.impl.techagainstterrorism_api import TATSignalExchangeAPI
from threatexchange.exchanges.signal_exchange_api import AnySignalExchangeAPI
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.signal_type.signal_base import SignalType

from moderation.exchanges.errors import CredentialsMissing

_SECRET_IN_URL = re.compile(r"(access_token|password|token|code)=[^&\s]+")

EXCHANGE_TYPES = ("ncmec", "stopncii", "tat", "threatexchange", "file")
# The library's signal types we take, and the bank hash type each becomes.
SIGNAL_TYPES: dict[str, type[SignalType]] = {"pdq": PdqSignal, "video_md5": VideoMD5Signal}
HASH_TYPE_OF_SIGNAL = {"pdq": "pdq", "video_md5": "md5"}
# NCMEC image MD5s: the library maps only video MD5s and image PDQ/PhotoDNA, but CSAM lists are
# largely image MD5s and every check computes the upload's MD5; taken from the entry's fingerprints.
NCMEC_IMAGE_MD5 = "image_md5"
# Credential fields each type needs in the credentials file (the library's credential field names).
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "ncmec": ("user", "password"),
    "stopncii": ("fetch_function_key", "subscription_key"),
    "tat": ("username", "password"),
    "threatexchange": ("api_token",),
    "file": (),
}
FEEDBACK_TYPES = ("ncmec", "stopncii", "threatexchange")


@dataclasses.dataclass(frozen=True)
class ExchangeSpec:
    """What building a client needs: the exchange's name, type and non-secret settings."""

    name: str
    type: str
    config: dict[str, t.Any]


def load_credentials(path: Path | None, spec: ExchangeSpec) -> dict[str, str]:
    """The exchange's entry of the credentials file; `exchange_credentials_missing` names what is
    absent, never a value."""
    needed = CREDENTIAL_FIELDS[spec.type]
    if not needed:
        return {}
    if path is None or not path.is_file():
        raise CredentialsMissing(
            "MODERATION_EXCHANGE_CREDENTIALS_FILE is not set or not a file", details={"exchange": spec.name}
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CredentialsMissing(
            "the credentials file is not a JSON object", details={"exchange": spec.name}
        ) from exc
    entry = data.get(spec.name) if isinstance(data, dict) else None
    if not isinstance(entry, dict):
        raise CredentialsMissing(
            f"the credentials file has no entry for exchange '{spec.name}'", details={"exchange": spec.name}
        )
    missing = [f for f in needed if not isinstance(entry.get(f), str) or not entry.get(f)]
    if missing:
        raise CredentialsMissing(
            f"the credentials of exchange '{spec.name}' lack {', '.join(missing)}",
            details={"exchange": spec.name, "missing": missing},
        )
    if spec.type == "threatexchange" and not is_valid_app_token(entry["api_token"]):
        raise CredentialsMissing(
            "the ThreatExchange api_token is not of the form APP_ID|SECRET", details={"exchange": spec.name}
        )
    return {k: str(v) for k, v in entry.items() if isinstance(v, str)}


# --- base URL injection --------------------------------------------------------------------------


class _NCMECHashAPIAt(ncmec_api.NCMECHashAPI):
    def __init__(self, username: str, password: str, environment: ncmec_api.NCMECEnvironment, base_url: str):
        super().__init__(username, password, environment)
        self._base_url = base_url.rstrip("/")


class NCMECExchange(NCMECSignalExchangeAPI):
    """The library's NCMEC exchange with an optional base URL in place of the environment's."""

    base_url: str | None = None

    def get_client(self, environment: ncmec_api.NCMECEnvironment) -> ncmec_api.NCMECHashAPI:
        if self.base_url:
            return _NCMECHashAPIAt(self._username, self._password, environment, self.base_url)
        return super().get_client(environment)


class _TATHashListAPIAt(tat_api.TATHashListAPI):
    def __init__(self, username: str, password: str, base_url: str) -> None:
        super().__init__(username, password)
        self.BASE_URL = base_url.rstrip("/") + "/"  # type: ignore[misc]


class TATExchange(TATSignalExchangeAPI):
    """The library's TCAP exchange with an optional base URL."""

    base_url: str | None = None

    def get_client(self) -> tat_api.TATHashListAPI:
        if self.base_url:
            return _TATHashListAPIAt(self.username, self.password, self.base_url)
        return super().get_client()


class StopNCIIExchange(StopNCIISignalExchangeAPI):
    """The library's StopNCII exchange; records whose case status is Withdrawn or Deleted are removals."""

    def fetch_iter(
        self,
        _supported_signal_types: Sequence[type[SignalType]],
        checkpoint: StopNCIICheckpoint | None,
    ) -> Iterator[fetch_state.FetchDelta[tuple[str, str], StopNCIISignalMetadata, StopNCIICheckpoint]]:
        start = stopncii_api.StopNCIIAPI.DEFAULT_START_TIME if checkpoint is None else checkpoint.update_time
        types = {
            stopncii_api.StopNCIISignalType.ImagePDQ: PdqSignal.get_name(),
            stopncii_api.StopNCIISignalType.VideoMD5: VideoMD5Signal.get_name(),
        }
        gone = (stopncii_api.StopNCIICaseStatus.Withdrawn, stopncii_api.StopNCIICaseStatus.Deleted)
        for page in self.api.fetch_hashes_iter(start_timestamp=start):
            updates: dict[tuple[str, str], StopNCIISignalMetadata | None] = {}
            for record in page.hashRecords:
                type_name = types.get(record.signalType)
                if type_name is None:
                    continue
                updates[type_name, record.hashValue] = (
                    None if record.hashStatus in gone else StopNCIISignalMetadata(record.CSPFeedbacks)
                )
            yield fetch_state.FetchDelta(updates, StopNCIICheckpoint.from_stopncii_fetch(page))


def build(spec: ExchangeSpec, credentials: dict[str, str]) -> tuple[AnySignalExchangeAPI, t.Any]:
    """The library's exchange object for `spec` and its collaboration config."""
    base_url = spec.config.get("base_url")
    if spec.type == "ncmec":
        environment = ncmec_api.NCMECEnvironment[spec.config.get("environment", "Industry")]
        ncmec_collab = NCMECCollabConfig(
            name=spec.name, environment=environment, only_esp_ids=set(spec.config.get("only_esp_ids", []))
        )
        ncmec = NCMECExchange(ncmec_collab, credentials["user"], credentials["password"])
        ncmec.base_url = base_url
        return ncmec, ncmec_collab
    if spec.type == "stopncii":
        keys = {}
        if credentials.get("feedback_function_key"):
            keys[stopncii_api.StopNCIIEndpoint.SubmitFeedback] = credentials["feedback_function_key"]
        client = stopncii_api.StopNCIIAPI(
            credentials["subscription_key"],
            credentials["fetch_function_key"],
            additional_function_keys=keys,
            base_url_override=base_url,
        )
        collab = CollaborationConfigBase(name=spec.name, api=StopNCIIExchange.get_name(), enabled=True)
        return StopNCIIExchange(collab, client), collab
    if spec.type == "tat":
        tat = TATExchange(username=credentials["username"], password=credentials["password"])
        tat.base_url = base_url
        return tat, CollaborationConfigWithDefaults(name=spec.name)
    if spec.type == "threatexchange":
        te_collab = FBThreatExchangeCollabConfig(
            name=spec.name, privacy_group=int(spec.config["privacy_group"])
        )
        te_client = ThreatExchangeAPI(credentials["api_token"], endpoint_override=base_url)
        return FBThreatExchangeSignalExchangeAPI(te_client, te_collab), te_collab
    if spec.type == "file":
        file_collab = FileCollaborationConfig(name=spec.name, filename=str(spec.config["filename"]))
        return LocalFileSignalExchangeAPI(file_collab), file_collab
    raise ValueError(f"unknown exchange type {spec.type}")


def signal_names_for(exchange_type: str) -> tuple[str, ...]:
    """The signal type names an exchange of this type may take (the default: all of them)."""
    names = tuple(SIGNAL_TYPES)
    return (*names, NCMEC_IMAGE_MD5) if exchange_type == "ncmec" else names


def ncmec_image_md5(collab: t.Any, value: t.Any) -> tuple[str, FetchedSignalMetadata] | None:
    """The image MD5 of an NCMEC entry with the library's metadata type, under the collab's ESP filter."""
    if not isinstance(value, ncmec_api.NCMECEntryUpdate) or value.deleted:
        return None
    if value.entry_type != ncmec_api.NCMECEntryType.image:
        return None
    if collab.only_esp_ids and value.member_id not in collab.only_esp_ids:
        return None
    md5 = value.fingerprints.get("md5")
    if not md5:
        return None
    tags = {value.classification} if value.classification else set()
    return md5, NCMECSignalMetadata({value.member_id: tags})


def checkpoint_to_json(checkpoint: fetch_state.FetchCheckpointBase | None) -> dict[str, t.Any] | None:
    if checkpoint is None:
        return None
    return dataclasses.asdict(checkpoint)


def checkpoint_from_json(
    api: AnySignalExchangeAPI, data: dict[str, t.Any] | None
) -> fetch_state.FetchCheckpointBase | None:
    if data is None:
        return None
    return t.cast(
        fetch_state.FetchCheckpointBase,
        dacite.from_dict(api.get_checkpoint_cls(), data, config=dacite.Config(cast=[set])),
    )


def ncmec_feedback(
    api: AnySignalExchangeAPI, *, member_id: int, entry_id: str, signal_type: str, positive: bool
) -> None:
    """Upvote or downvote one fingerprint of an NCMEC entry (the library's client)."""
    assert isinstance(api, NCMECExchange)
    client = api.get_client(api.collab.environment)
    fingerprint = ncmec_api.FingerprintType.pdq if signal_type == "pdq" else ncmec_api.FingerprintType.md5
    vote = ncmec_api.FeedbackType.upvote if positive else ncmec_api.FeedbackType.downvote
    client.submit_feedback(member_id, entry_id, fingerprint, vote)


def stopncii_feedback(api: AnySignalExchangeAPI, *, signal_type: str, value: str, positive: bool) -> None:
    """StopNCII `Blocked` (confirmed) or `NotBlocked` (overturned) feedback on one hash."""
    assert isinstance(api, StopNCIIExchange)
    kind = (
        stopncii_api.StopNCIISignalType.ImagePDQ
        if signal_type == "pdq"
        else stopncii_api.StopNCIISignalType.VideoMD5
    )
    verdict = (
        stopncii_api.StopNCIICSPFeedbackValue.Blocked
        if positive
        else stopncii_api.StopNCIICSPFeedbackValue.NotBlocked
    )
    api.api.submit_feedback(kind, value, verdict)


def threatexchange_feedback(api: AnySignalExchangeAPI, *, descriptor_ids: list[int], positive: bool) -> None:
    """A HELPFUL or NOT_HELPFUL reaction on each descriptor of the indicator."""
    assert isinstance(api, FBThreatExchangeSignalExchangeAPI)
    for descriptor_id in descriptor_ids:
        _, error, body = api.client.react_to_threat_descriptor(
            descriptor_id, "HELPFUL" if positive else "NOT_HELPFUL"
        )
        if error is not None or not (isinstance(body, dict) and body.get("success")):
            raise RuntimeError(f"ThreatExchange refused the reaction on descriptor {descriptor_id}")


def describe_error(exc: Exception) -> str:
    """An exchange error for `last_error` and logs: the exception type and its first line, with any
    credentials the URL might carry (ThreatExchange puts its token in the query) cut off."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = _SECRET_IN_URL.sub(r"\1=***", text)
    return f"{type(exc).__name__}: {text}"[:1000]
