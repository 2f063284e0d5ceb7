"""The zip keeps the models of exactly the AWS services the functions create clients for.

`infra.aws.trim` drops every other service's model from botocore, so a client for a
service missing from `LAMBDA_AWS_SERVICES` would fail in Lambda only (UnknownServiceError).
Clients come only from `chalicelib.aws.client`; each call is read from the source with `ast`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from infra.aws.trim import LAMBDA_AWS_SERVICES
from tests.conftest import ROOT

AWS_MODULE = "chalicelib.aws"


def shipped_sources() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]


def client_calls(path: Path, root: Path = ROOT) -> Iterator[ast.Call]:
    """Each call of `chalicelib.aws.client` in `path` (a module under `root`), however the
    module or the function was imported."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    package = parts if path.name == "__init__.py" else parts[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module_names: set[str] = set()
    function_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            module_names.update(
                alias.asname for alias in node.names if alias.name == AWS_MODULE and alias.asname
            )
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            source = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:
                if f"{source}.{alias.name}" == AWS_MODULE:
                    module_names.add(alias.asname or alias.name)
                elif source == AWS_MODULE and alias.name == "client":
                    function_names.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if (
            isinstance(function, ast.Attribute)
            and function.attr == "client"
            and isinstance(function.value, ast.Name)
            and function.value.id in module_names
        ) or (isinstance(function, ast.Name) and function.id in function_names):
            yield node


def test_every_client_the_functions_create_is_for_a_service_the_zip_keeps() -> None:
    named: set[str] = set()
    not_literal = []
    for path in shipped_sources():
        for call in client_calls(path):
            argument = call.args[0] if call.args else None
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                named.add(argument.value)
            else:
                not_literal.append(f"{path.relative_to(ROOT)}:{call.lineno}")

    assert not_literal == [], "name the service with a string literal, so the zip keeps its model"
    assert named - LAMBDA_AWS_SERVICES == set(), "add it to infra.aws.trim.LAMBDA_AWS_SERVICES"
    assert LAMBDA_AWS_SERVICES - named == set(), "no function uses it: drop it from the zip"


def test_the_scan_finds_a_client_however_chalicelib_aws_is_imported(tmp_path: Path) -> None:
    module = tmp_path / "chalicelib" / "store" / "probe.py"
    module.parent.mkdir(parents=True)
    sources = {
        "from chalicelib import aws\naws.client('sns')\n": "sns",
        "from .. import aws as amazon\namazon.client('lambda')\n": "lambda",
        "from chalicelib.aws import client\nclient('s3')\n": "s3",
        "import chalicelib.aws as amazon\namazon.client('sts')\n": "sts",
        "from chalicelib import aws\naws.client(SERVICE)\n": None,
    }
    for source, service in sources.items():
        module.write_text(source, encoding="utf-8")

        [call] = client_calls(module, root=tmp_path)

        argument = call.args[0]
        assert getattr(argument, "value", None) == service, source
