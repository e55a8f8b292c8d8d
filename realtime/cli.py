"""The ``duble`` console command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from realtime import log_redaction
    from realtime.app import create_app
    from realtime.config import Settings
    from realtime.drain import DrainingServer
    from realtime.http_protocol import bounded_headers_protocol
    from realtime.json_logs import logging_config

    overrides = {k: v for k, v in {"host": args.host, "port": args.port, "tts_engine": args.tts_engine,
                                   "f5_dir": args.f5_dir, "f5_nfe_steps": args.f5_nfe_steps,
                                   "device": args.device, "content_encoder_dir": args.content_encoder}.items()
                 if v is not None}
    settings = Settings(**overrides)
    http = bounded_headers_protocol(settings.http_header_timeout_s, settings.http_max_header_bytes)
    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, loop="uvloop",
                            http=http, timeout_keep_alive=settings.http_keep_alive_s,
                            ws_max_size=1 << 20, log_level=args.log_level,
                            log_config=logging_config(args.log_level) if args.log_format == "json"
                            else uvicorn.config.LOGGING_CONFIG,
                            proxy_headers=bool(settings.forwarded_allow_ips),
                            forwarded_allow_ips=settings.forwarded_allow_ips or None)
    # uvicorn.Config sets up logging; the filters go on after it.
    log_redaction.install()
    DrainingServer(config, app.state.drain).run()
    return 0


def _migrate(_: argparse.Namespace) -> int:
    from realtime.config import Settings
    from realtime.storage.db import migrate

    applied = asyncio.run(migrate(Settings().database_url))
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duble", description="Dublê real-time voice service")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP/WebSocket server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--tts-engine", choices=["embedded", "f5", "fake"])
    serve.add_argument("--f5-dir", help="F5 model-set directory (DUBLE_F5_DIR)")
    serve.add_argument("--f5-nfe-steps", type=int, help="F5 sampling steps (DUBLE_F5_NFE_STEPS)")
    serve.add_argument("--device", help="compute device, e.g. cpu or cuda:0 (DUBLE_DEVICE)")
    serve.add_argument("--content-encoder", help="RVC content encoder dir, HuggingFace format "
                       "(DUBLE_CONTENT_ENCODER_DIR)")
    serve.add_argument("--log-level", default=os.environ.get("DUBLE_LOG_LEVEL", "info"))
    serve.add_argument("--log-format", choices=["json", "text"], default=os.environ.get("DUBLE_LOG_FORMAT", "json"),
                       help="json: one object per line with request and session ids (DUBLE_LOG_FORMAT)")
    serve.set_defaults(func=_serve)

    mig = sub.add_parser("migrate", help="create the database if needed and apply SQL migrations")
    mig.set_defaults(func=_migrate)

    from realtime.cli_models import add_models_parser
    from realtime.cli_say import add_say_parser

    add_models_parser(sub)
    add_say_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
