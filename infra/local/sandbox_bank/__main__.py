"""`python -m infra.local.sandbox_bank --host 127.0.0.1 --port 8001 --issuer http://127.0.0.1:8001`."""

from __future__ import annotations

import argparse
from datetime import date

from flask import Flask
from werkzeug.serving import make_server

from infra.local.sandbox_bank.app import create_app
from infra.local.sandbox_bank.config import SandboxBankConfig
from infra.local.sandbox_bank.seed import DEFAULT_SEED


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="BankBridge sandbox bank (OAuth/OIDC + FDX v6)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--issuer", help="public base URL; default http://HOST:PORT")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--today", type=date.fromisoformat, help="pin the data date")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, app=_app(args), threaded=True)
    print(f"Sandbox bank listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _app(args: argparse.Namespace) -> Flask:
    issuer = args.issuer or f"http://{args.host}:{args.port}"
    return create_app(SandboxBankConfig(issuer=issuer, seed=args.seed, today=args.today))


if __name__ == "__main__":
    main()
