"""The packages' import boundaries (issue 13): what ships never reaches the tooling, and the
deployment code and the local stack stay apart.

Every import counts, at module level or inside a function, read from the source with `ast`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

LOCAL_STACK_MAY_USE_FROM_AWS = frozenset({"infra.aws.provision"})
"""The local stack creates moto's resources with the code that deploys them (`provision`)."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[str]:
    """Each module `path` imports; `from a import b` gives `a.b`, relative imports resolved."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def imports_under(folder: str) -> dict[str, set[str]]:
    """module name -> the modules it imports, for every module in `folder`."""
    return {
        module_name(path): set(imports_of(path)) for path in sorted((ROOT / folder).rglob("*.py"))
    }


def within(name: str, modules: frozenset[str]) -> bool:
    """Whether `name` is one of `modules` or a name defined in one of them."""
    return name in modules or name.rsplit(".", 1)[0] in modules


def reaching(imports: dict[str, set[str]], *prefixes: str) -> dict[str, list[str]]:
    """The imports of each module that name a module under one of `prefixes`."""
    found = {
        module: sorted(
            name
            for name in names
            if any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)
        )
        for module, names in imports.items()
    }
    return {module: names for module, names in found.items() if names}


def test_the_shipped_code_imports_no_tooling_and_no_flask() -> None:
    chalicelib = imports_under("chalicelib")
    app = {"app": set(imports_of(ROOT / "app.py"))}

    assert reaching(chalicelib | app, "infra", "flask", "werkzeug") == {}
    assert reaching(chalicelib, "chalicelib")  # the scan sees imports at all


def test_deployment_code_never_imports_the_local_stack_or_the_cli() -> None:
    assert reaching(imports_under("infra/aws"), "infra.local", "infra.cli") == {}


def test_the_local_stack_uses_only_the_provisioning_of_the_deployment_code() -> None:
    from_aws = reaching(imports_under("infra/local"), "infra.aws", "infra.cli")
    beyond = {
        module: [name for name in names if not within(name, LOCAL_STACK_MAY_USE_FROM_AWS)]
        for module, names in from_aws.items()
    }

    assert {module: names for module, names in beyond.items() if names} == {}
    assert from_aws, "the exception is unused: remove LOCAL_STACK_MAY_USE_FROM_AWS"


def test_the_infra_modules_the_wheel_ships_import_only_the_product() -> None:
    shipped = {
        module_name(path): set(imports_of(path))
        for path in (ROOT / "infra" / "__init__.py", ROOT / "infra" / "cli.py")
    }

    assert reaching(shipped, "infra.aws", "infra.local", "flask", "werkzeug") == {}
