"""`python -m infra.local.sandbox_bank --host 127.0.0.1 --port 8001 --issuer http://127.0.0.1:8001`."""

from __future__ import annotations

import argparse
from datetime import date

from infra.local.sandbox_bank.config import DEFAULT_EVENTS_SECRET, SandboxBankConfig
from infra.local.sandbox_bank.seed import DEFAULT_SEED
from infra.local.sandbox_bank.server import bind
from infra.local.serving import serve_until_stopped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="BankBridge sandbox bank (OAuth/OIDC + FDX v6)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--issuer", help="public base URL; default http://HOST:PORT as bound")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--today", type=date.fromisoformat, help="pin the data date (YYYY-MM-DD)")
    parser.add_argument(
        "--events-url",
        help="BankBridge's bank-events URL, e.g. http://127.0.0.1:8000/banks/sandbox-fdx/events;"
        " {standard} becomes fdx, uk, xs2a, cdr or brazil",
    )
    parser.add_argument(
        "--events-secret",
        default=DEFAULT_EVENTS_SECRET,
        help="HMAC secret for BankBridge-Signature (events and fraud answers)",
    )
    args = parser.parse_args(argv)
    config = SandboxBankConfig(
        issuer=args.issuer,
        seed=args.seed,
        today=args.today,
        events_url=args.events_url,
        events_secret=args.events_secret,
    )
    server, url = bind(args.host, args.port, config)
    print(f"Sandbox bank listening on {url}", flush=True)
    serve_until_stopped(server)


if __name__ == "__main__":
    main()
