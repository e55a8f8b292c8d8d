"""The one place that reads configuration (environment variables prefixed ``DUBLE_`` plus a few standard ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUBLE_", frozen=True, extra="ignore")

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/duble",
        validation_alias="DATABASE_URL",
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", validation_alias="REDIS_URL")
    redis_prefix: str = "duble:"

    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    # Proxies (comma-separated IPs or CIDRs, "*" for any) whose X-Forwarded-For / -Proto are believed; empty: none,
    # so a client cannot dodge the per-IP limits with a forged header.
    forwarded_allow_ips: str = ""
    # A connection whose request headers are not complete this long after their first byte is closed.
    http_header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    http_max_header_bytes: int = Field(default=64 * 1024, ge=4096, le=1024 * 1024)
    http_keep_alive_s: int = Field(default=5, ge=1, le=300)
    # When set, /v1/stats and /metrics need "Authorization: Bearer <metrics_token>" (a scraper's secret).
    metrics_token: SecretStr = SecretStr("")
    # On SIGTERM, open sessions get `going_away` and this long to finish before they are cut (billing settled).
    drain_deadline_s: float = Field(default=30.0, ge=0, le=3600)

    device: str = "cpu"
    worker_threads: int = Field(default=2, ge=1, le=64)
    worker_queue_size: int = Field(default=64, ge=1)
    job_timeout_s: float = Field(default=60.0, gt=0)
    # A job whose expected queue wait (jobs ahead x recent job time) exceeds this is refused as busy at once.
    worker_max_wait_s: float = Field(default=20.0, gt=0)

    tts_engine: Literal["embedded", "f5", "fake"] = "embedded"
    # Knobs of the deterministic test engine (tts_engine="fake").
    fake_tts_latency_ms: float = 0.0
    fake_tts_fail_after: int = -1
    fake_tts_fail_retryable: bool = False

    # F5-TTS (tts_engine="f5"): a model-set directory (synthesis/f5/models.py), optional per-language overrides
    # as JSON, e.g. DUBLE_F5_LANGUAGE_DIRS='{"pt-BR": "/models/f5-pt-br"}'.
    f5_dir: Path | None = None
    f5_language_dirs: dict[str, Path] = Field(default_factory=dict)
    f5_nfe_steps: int = Field(default=16, ge=1, le=64)
    f5_cfg_strength: float = Field(default=2.0, ge=0)
    f5_sway_sampling_coef: float = -1.0
    f5_fp16: bool = True
    f5_crossfade_ms: float = Field(default=100.0, ge=0, le=1000)
    f5_first_batch_s: float = Field(default=2.0, gt=0)
    f5_max_batch: int = Field(default=0, ge=0, le=64)  # 0: 8 on CUDA, 1 on CPU
    # torch intra-op threads when F5 runs on CPU (process-wide; parallelism comes from worker_threads; 0: torch's own)
    f5_cpu_threads: int = Field(default=1, ge=0, le=256)

    # Synthesis cache in Redis: identical (voice, text, engine, params) sentences are replayed from it.
    tts_cache_enabled: bool = True
    tts_cache_ttl_s: int = Field(default=30 * 24 * 3600, ge=1)
    tts_cache_max_bytes: int = Field(default=512 * 1024 * 1024, ge=0)
    tts_cache_max_entry_bytes: int = Field(default=4 * 1024 * 1024, ge=0)

    max_upload_bytes: int = 20 * 1024 * 1024
    voice_min_s: float = 3.0
    voice_max_s: float = 30.0
    free_plan_voices: int = 5
    signup_credits: int = 100
    max_text_chars: int = 5000
    # Billed WebSocket streams: audio sent but not acknowledged by the client (docs/protocol.md, flow control)
    # never exceeds ws_ack_window_ms; with the window full and no ack for ws_stall_timeout_s the stream is closed.
    ws_ack_window_ms: int = Field(default=3000, ge=200, le=4000)
    ws_stall_timeout_s: float = Field(default=10.0, gt=0, le=120)

    mercadopago_access_token: SecretStr = SecretStr("")
    mercadopago_webhook_secret: SecretStr = SecretStr("")
    mercadopago_base_url: str = "https://api.mercadopago.com"
    mercadopago_timeout_s: float = Field(default=5.0, gt=0)
    mercadopago_webhook_tolerance_s: int = Field(default=300, ge=1)
    mercadopago_back_url: str = ""

    # Billing (billing/): whole credits per minute of delivered audio; a session reserves billing_quantum_ms of
    # audio ahead at a time; live usage is written to the ledger every billing_settle_interval_s.
    price_tts_credits_per_min: int = Field(default=10, gt=0)
    price_conversion_credits_per_min: int = Field(default=5, gt=0)
    price_tts_rvc_credits_per_min: int = Field(default=15, gt=0)
    billing_quantum_ms: int = Field(default=1000, ge=10, le=1000)
    billing_settle_interval_s: float = Field(default=5.0, gt=0)
    # Rate limits: events per rate_limit_window_s (0 = unlimited); paid plans get the multiplier per key.
    rate_limits_enabled: bool = True
    rate_limit_window_s: int = Field(default=60, ge=1)
    rate_signups_per_ip: int = Field(default=100, ge=0)
    rate_session_starts_per_key: int = Field(default=60, ge=0)
    rate_session_starts_per_ip: int = Field(default=600, ge=0)
    rate_uploads_per_key: int = Field(default=60, ge=0)
    rate_uploads_per_ip: int = Field(default=600, ge=0)
    rate_paid_plan_multiplier: int = Field(default=5, ge=1)
    rate_logins_per_email: int = Field(default=10, ge=0)
    rate_logins_per_ip: int = Field(default=30, ge=0)

    # Live voice conversion (/v1/vc/stream, WebRTC). Blocks are whole 10 ms; RVC needs more context than WORLD.
    content_encoder_dir: Path | None = None  # HuBERT/ContentVec in HuggingFace format, for RVC voices
    vc_world_rate_hz: int = Field(default=16000, ge=8000, le=48000)
    vc_world_block_ms: int = Field(default=60, ge=20, le=500)
    vc_world_context_ms: int = Field(default=200, ge=0, le=2000)
    vc_rvc_block_ms: int = Field(default=100, ge=20, le=1000)
    vc_rvc_context_ms: int = Field(default=300, ge=0, le=3000)
    vc_max_backlog_ms: int = Field(default=300, ge=20, le=5000)
    vc_max_frame_bytes: int = Field(default=64 * 1024, ge=320)
    rvc_f0_method: Literal["pm", "crepe", "harvest", "dio"] = "pm"
    rvc_index_rate: float = Field(default=0.5, ge=0, le=1)
    rvc_protect: float = Field(default=0.33, ge=0, le=0.5)
    rvc_max_model_bytes: int = 300 * 1024 * 1024
    # WebRTC: gather ICE candidates on this address only (e.g. 127.0.0.1 in tests); empty = every interface.
    webrtc_ice_address: str = ""
    webrtc_max_sessions: int = Field(default=16, ge=1)
    # A call must send its offer within webrtc_idle_timeout_s of connecting (and of `start`), reach `connected`
    # within webrtc_connect_timeout_s of the answer, then never go webrtc_media_timeout_s without audio.
    webrtc_idle_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    webrtc_connect_timeout_s: float = Field(default=15.0, gt=0, le=300)
    webrtc_media_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    webrtc_max_sdp_bytes: int = Field(default=64 * 1024, ge=1024, le=512 * 1024)
    # torch intra-op threads for the process (0 = torch's default). Live streams run side by side on the worker
    # threads; more intra-op threads per job only contend (measured: 45 ms vs 300-3000 ms per RVC block on 2 busy
    # cores).
    torch_threads: int = Field(default=1, ge=0, le=256)

    data_dir: Path = Path(".duble-data")

    # Embedded engine base voices (issue 9): language -> "kokoro:<pack>", "espeak" or "piper" (English only), as JSON,
    # e.g. DUBLE_EMBEDDED_BASE_VOICES='{"pt-BR": "kokoro:jf_alpha"}'; languages not named keep these defaults.
    embedded_base_voices: dict[str, str] = Field(
        default_factory=lambda: {"pt-BR": "kokoro:jm_kumo", "es": "kokoro:jm_kumo", "en": "piper"})
    # Further base voices a voice profile may speak through (the one nearest its median pitch), as JSON lists.
    embedded_alternate_base_voices: dict[str, list[str]] = Field(
        default_factory=lambda: {"pt-BR": ["kokoro:jf_nezumi"], "es": ["kokoro:jf_nezumi"]})
    # The Kokoro model joined from its wheels (and base-voice statistics) is cached here, shared by every server.
    kokoro_cache_dir: Path = Path.home() / ".cache" / "duble" / "kokoro"
    # onnxruntime intra-op threads per Kokoro job; streams run side by side on worker_threads.
    kokoro_threads: int = Field(default=2, ge=1, le=64)
    # Detect pt-BR / es / en from the first sentence when a start names neither a language nor a voice.
    language_detection: bool = True
