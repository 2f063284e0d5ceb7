"""The keyed pseudonyms the local stack gives WhatsApp ids, so the console can find its lines.

BankBridge never logs or stores a WhatsApp number or message id (a `wamid` embeds
the number): it keys each with the stage's account-reference key
(`chalicelib.channels.whatsapp.identity.Pseudonyms`), and the worker logs under the
message's pseudonym. The console knows the clear ids it posted, so with the same
key, read from the local stack's Secrets Manager (moto), it finds a WhatsApp
message's worker lines as it finds a Messenger message's by `mid`. The key stays
in this process. Without it (no `--aws-url`, moto unreachable) traces lack those
lines, as before; it is read again after `KEY_SECONDS`, since provisioning a
restarted moto generates a new one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from chalicelib.channels.whatsapp.identity import Pseudonyms

logger = logging.getLogger(__name__)

KEY_SECONDS = 60.0
"""How long a key read from Secrets Manager is used before it is read again."""


class StackPseudonyms:
    """`Pseudonyms` under the local stack's account-reference key, read when first needed."""

    def __init__(self, aws_url: str | None, key_name: str | None) -> None:
        self._aws_url = aws_url
        self._key_name = key_name
        self._lock = threading.Lock()
        self._client: Any = None
        self._cached: tuple[Pseudonyms, float] | None = None

    def get(self) -> Pseudonyms | None:
        """The stack's pseudonyms; None while its key cannot be read."""
        with self._lock:
            if self._cached is not None and time.monotonic() < self._cached[1]:
                return self._cached[0]
            key = self._read_key()
            if key is None:
                return None
            self._cached = (Pseudonyms(key.encode()), time.monotonic() + KEY_SECONDS)
            return self._cached[0]

    def _read_key(self) -> str | None:
        if not self._aws_url or not self._key_name:
            return None
        import boto3  # lazy: only traces of WhatsApp messages need AWS
        from botocore.exceptions import BotoCoreError, ClientError

        if self._client is None:
            self._client = boto3.client(
                "secretsmanager",
                endpoint_url=self._aws_url,
                region_name=os.environ.get("AWS_REGION", "us-east-1"),
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - moto accepts any credentials
            )
        try:
            return str(self._client.get_secret_value(SecretId=self._key_name)["SecretString"])
        except (BotoCoreError, ClientError, KeyError) as error:
            logger.warning("console: account-reference key unreadable (%s)", type(error).__name__)
            return None
