"""In-memory KMS and Secrets Manager behind `chalicelib.aws.client`, for unit tests.

Services seal tokens, OAuth states and alert details with envelope encryption
(`chalicelib.envelope`: a KMS data key, then AES-GCM locally) and read
signing secrets through `chalicelib.secrets`. `in_memory_aws` makes the one
client factory answer with these fakes, so that real sealing and opening run
without moto, and any other AWS call fails loudly (`KeyError`): a unit test
that reaches DynamoDB or SQS has missed a seam.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError


def _client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeKms:
    """`GenerateDataKey` and `Decrypt`, binding each data key to its encryption context."""

    def __init__(self) -> None:
        self._keys: dict[bytes, tuple[bytes, dict[str, str]]] = {}
        self.decrypts = 0

    def generate_data_key(self, **request: Any) -> dict[str, bytes]:
        """A fresh 256-bit key and its 'encrypted' handle (boto3's keyword arguments)."""
        plaintext = os.urandom(32)
        handle = b"fake-kms:" + os.urandom(16)
        self._keys[handle] = (plaintext, dict(request["EncryptionContext"]))
        return {"Plaintext": plaintext, "CiphertextBlob": handle}

    def decrypt(self, **request: Any) -> dict[str, bytes]:
        """The data key, only under the context it was made for (as KMS checks it)."""
        self.decrypts += 1
        stored = self._keys.get(request["CiphertextBlob"])
        if stored is None or stored[1] != dict(request["EncryptionContext"]):
            raise _client_error("InvalidCiphertextException", "Decrypt")
        return {"Plaintext": stored[0]}


class FakeSecretsManager:
    """`GetSecretValue` over a dict; a missing name is `ResourceNotFoundException`."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self.values = dict(values or {})
        self.reads: list[str] = []

    def get_secret_value(self, **request: Any) -> dict[str, str]:
        """The secret's string value (boto3's keyword arguments)."""
        name = request["SecretId"]
        self.reads.append(name)
        if name not in self.values:
            raise _client_error("ResourceNotFoundException", "GetSecretValue")
        return {"SecretString": self.values[name]}


class FakeAws:
    """The fakes `in_memory_aws` installed, for a test to set up and inspect."""

    def __init__(self) -> None:
        self.kms = FakeKms()
        self.secretsmanager = FakeSecretsManager()

    def client(self, service_name: str) -> Any:
        """The fake for `service_name`; any other service is a missing seam."""
        return {"kms": self.kms, "secretsmanager": self.secretsmanager}[service_name]


@contextmanager
def in_memory_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAws]:
    """Route `chalicelib.aws.client` to a fresh `FakeAws`, with no data key or secret cached."""
    from chalicelib import aws, envelope, secrets

    fake = FakeAws()
    envelope.forget_data_keys()
    secrets.forget_secrets()
    monkeypatch.setattr(aws, "client", fake.client)
    try:
        yield fake
    finally:
        envelope.forget_data_keys()
        secrets.forget_secrets()
