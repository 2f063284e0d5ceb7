"""`python -m infra.local.console --port 8003 --api-url ... --graph-url ... --bank-url ...`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from infra.local.console.app import stop_streams
from infra.local.console.config import ConsoleConfig
from infra.local.console.server import bind
from infra.local.graph_standin import DEFAULT_INSTAGRAM_ACCOUNT_ID, DEFAULT_PHONE_NUMBER_ID
from infra.local.serving import serve_until_stopped
from infra.local.stack import stage_environment

DEFAULT_PORT = 8003
REFERENCE_KEY_VARIABLE = "BANKBRIDGE_ACCOUNT_REFERENCE_KEY_NAME"


def main(argv: list[str] | None = None) -> None:
    """Serve the console in the foreground until interrupted."""
    env = os.environ.get
    parser = argparse.ArgumentParser(description="BankBridge console (local stack only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(env("BANKBRIDGE_LOCAL_CONSOLE_PORT", DEFAULT_PORT))
    )
    parser.add_argument("--api-url", default="http://127.0.0.1:8000")
    parser.add_argument("--graph-url", default="http://127.0.0.1:8002")
    parser.add_argument("--bank-url", default="http://127.0.0.1:8001")
    parser.add_argument(
        "--aws-url", default=None, help="moto server, for the status strip and WhatsApp traces"
    )
    parser.add_argument("--log-dir", type=Path, default=Path(".dev/logs"))
    parser.add_argument(
        "--reference-key-name",
        default=env(REFERENCE_KEY_VARIABLE) or stage_environment().get(REFERENCE_KEY_VARIABLE),
        help="the stage's account-reference key (Secrets Manager), to trace WhatsApp messages",
    )
    parser.add_argument("--app-secret", default=env("BANKBRIDGE_DEV_APP_SECRET", "dev-app-secret"))
    parser.add_argument(
        "--admin-token", default=env("BANKBRIDGE_DEV_ADMIN_TOKEN", "dev-admin-token")
    )
    parser.add_argument(
        "--whatsapp-phone-number-id",
        default=env("BANKBRIDGE_DEV_WHATSAPP_PHONE_NUMBER_ID", DEFAULT_PHONE_NUMBER_ID),
        help="the business number WhatsApp users write to (the Graph stand-in's)",
    )
    parser.add_argument(
        "--instagram-account-id",
        default=env("BANKBRIDGE_DEV_INSTAGRAM_ACCOUNT_ID", DEFAULT_INSTAGRAM_ACCOUNT_ID),
        help="the professional account Instagram users write to (the Graph stand-in's)",
    )
    args = parser.parse_args(argv)
    config = ConsoleConfig(
        api_url=args.api_url,
        graph_url=args.graph_url,
        bank_url=args.bank_url,
        aws_url=args.aws_url,
        reference_key_name=args.reference_key_name,
        log_dir=args.log_dir,
        app_secret=args.app_secret,
        admin_token=args.admin_token,
        whatsapp_phone_number_id=args.whatsapp_phone_number_id,
        instagram_account_id=args.instagram_account_id,
        # Scrubbed from the log pane too, whatever their source.
        extra_secrets=[
            env("BANKBRIDGE_DEV_PAGE_TOKEN", "dev-page-token"),
            env("BANKBRIDGE_DEV_VERIFY_TOKEN", "dev-verify-token"),
            env("BANKBRIDGE_DEV_WHATSAPP_TOKEN", "dev-whatsapp-token"),
            env("BANKBRIDGE_DEV_WHATSAPP_VERIFY_TOKEN", "dev-whatsapp-verify-token"),
            env("BANKBRIDGE_DEV_INSTAGRAM_TOKEN", "dev-instagram-token"),
            env("BANKBRIDGE_DEV_INSTAGRAM_VERIFY_TOKEN", "dev-instagram-verify-token"),
        ],
    )
    server, url = bind(args.host, args.port, config)
    print(f"BankBridge console listening on {url}", flush=True)
    # Open pages' streams end within one poll interval.
    serve_until_stopped(server, before_close=lambda: stop_streams(server.app))


if __name__ == "__main__":
    main()
