"""The import rules of `chalicelib`, read from the source (ast) without importing it.

Dependencies point one way: no import circles, no import from a lower layer to a
higher one, and an import inside a function only where it keeps a heavy module
off the Lambda cold-start path, saying so with a `# lazy: <reason>` comment.
Type-only imports (`if TYPE_CHECKING:`) count: a type names a dependency too.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from chalicelib.connectors.config.models import Standard

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "chalicelib"

LAYERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        (
            "chalicelib.errors",
            "chalicelib.stage",
            "chalicelib.loopback",
            "chalicelib.runtime_sdk",
            "chalicelib.aws",
            "chalicelib.redaction",
            "chalicelib.observability",
            "chalicelib.settings",
            "chalicelib.public_url",
            "chalicelib.deadline",
            "chalicelib.bounded_json",
            "chalicelib.queues",
            "chalicelib.secret_namespace",
            "chalicelib.secrets",
            "chalicelib.envelope",
            "chalicelib.timestamps",
        ),
        "plumbing every package shares; it knows no bank standard, chat or table",
    ),
    (
        ("chalicelib.bank_data", "chalicelib.channels.messages"),
        "the canonical bank data and chat messages that both ports and the core speak",
    ),
    (("chalicelib.connectors",), "bank-standard adapters and their configs; no table, no chat"),
    (
        ("chalicelib.store", "chalicelib.batch"),
        "DynamoDB repositories (and the SQS batch runner claiming through them); "
        "they hold connector configs and chat users, never call a bank",
    ),
    (("chalicelib.channels",), "messaging-platform adapters; they record replies in the store"),
    (
        ("chalicelib.privacy",),
        "privacy's building blocks, e.g. consent records: every consent change (linking, "
        "unlinking, bank events) writes one",
    ),
    (
        ("chalicelib.auth", "chalicelib.privacy.private_view", "chalicelib.privacy.view_pages"),
        "linking and the token vault, over connectors and the store; the private view's "
        "one-time pages, opened in the browser linking trusted, beside them",
    ),
    (
        (
            "chalicelib.conversation",
            "chalicelib.privacy.my_data",
            "chalicelib.privacy.erasure",
            "chalicelib.privacy.disclosure",
            "chalicelib.privacy.private_offers",
        ),
        "the chat core: understands a message and answers it through auth and connectors; "
        "privacy's chat features (a person's data, its erasure) beside it",
    ),
    (
        ("chalicelib.events", "chalicelib.privacy.step_up", "chalicelib.privacy.bank_views"),
        "bank events fanned out to chats in the conversation's words; the fraud answer's "
        "step-up beside them",
    ),
    (
        (
            "chalicelib.http_errors",
            "chalicelib.channels.webhooks",
            "chalicelib.events.ingest",
            "chalicelib.privacy.private_page",
            "chalicelib.admin",
            "chalicelib.readiness",
        ),
        "the edges app.py calls (webhook intake, errors as HTTP answers, operator surfaces): "
        "they parse, call any layer below and shape the answer",
    ),
)
"""Lowest layer first; a module may import from its own layer or any below it."""

COLD_START_FORBIDDEN = (
    "boto3",
    "botocore",
    "requests",
    "urllib3",
    "cryptography",
    "joserfc",
    "pydantic",
    "pydantic_settings",
)
"""Heavy modules `import app` must not load: each Lambda pays them on every cold start."""


@dataclass(frozen=True)
class ImportSite:
    """One import of a chalicelib module by another."""

    importer: str
    imported: str
    line: int


def _module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


MODULES = _module_files()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _imported_modules(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The chalicelib modules one import statement names (`from pkg import module` included)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
            for alias in node.names
        ]
    found = []
    for name in names:
        known = name
        while known not in MODULES and "." in known:
            known = known.rsplit(".", 1)[0]
        if known in MODULES and known != module:
            found.append(known)
    return found


def _import_sites() -> list[ImportSite]:
    return [
        ImportSite(module, imported, node.lineno)
        for module, tree in TREES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for imported in _imported_modules(module, node)
    ]


def _layer_of(module: str) -> int:
    """The rank of the longest LAYERS prefix naming `module`."""
    matches = [
        (len(prefix), rank)
        for rank, (prefixes, _why) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(f"{prefix}.")
    ]
    assert matches, f"{module} has no layer: add it to LAYERS in {Path(__file__).name}"
    return max(matches)[1]


def _in_function_imports() -> list[tuple[str, ast.Import | ast.ImportFrom]]:
    found = []
    for module, tree in TREES.items():
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                found += [
                    (module, node)
                    for node in ast.walk(function)
                    if isinstance(node, ast.Import | ast.ImportFrom)
                ]
    return found


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        if module != PACKAGE:
            _layer_of(module)


def test_no_import_circles() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for site in _import_sites():
        graph[site.importer].add(site.imported)
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        raise AssertionError(f"import circle: {' -> '.join(error.args[1])}") from None


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    upward = [
        f"{MODULES[site.importer].relative_to(ROOT)}:{site.line} imports {site.imported}"
        for site in _import_sites()
        if site.importer != PACKAGE and _layer_of(site.importer) < _layer_of(site.imported)
    ]
    assert upward == [], "imports from a lower layer up (pass the behaviour in instead):\n" + (
        "\n".join(upward)
    )


CORE_PACKAGES = ("chalicelib.conversation", "chalicelib.events", "chalicelib.auth")
"""The channel-neutral core: it reaches a messaging platform only through the channel port."""


META_PACKAGE = "chalicelib.channels.meta"
"""What every Meta platform shares (signature, Graph client and errors, envelope): no adapter."""


def _channel_adapter_packages() -> list[str]:
    """Every `chalicelib.channels.<platform>` package (messenger, whatsapp, ...)."""
    return [
        name
        for name, path in MODULES.items()
        if name.startswith("chalicelib.channels.")
        and name.count(".") == 2
        and path.name == "__init__.py"
        and name != META_PACKAGE
    ]


def _within(module: str, packages: tuple[str, ...] | list[str]) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)


def test_the_core_imports_no_channel_adapter() -> None:
    adapters = _channel_adapter_packages()
    assert "chalicelib.channels.messenger" in adapters
    reaching_in = [
        f"{MODULES[site.importer].relative_to(ROOT)}:{site.line} imports {site.imported}"
        for site in _import_sites()
        if _within(site.importer, CORE_PACKAGES) and _within(site.imported, adapters)
    ]
    assert reaching_in == [], (
        "the core imports a channel adapter (ask `channels.registry.adapter_for` instead):\n"
        + "\n".join(reaching_in)
    )


def test_an_adapter_imports_the_meta_package_and_the_port_never_another_adapter() -> None:
    """What two platforms share lives once in `channels/meta/`, not in one adapter the other
    reaches into; and `meta` serves the adapters without knowing any of them."""
    adapters = _channel_adapter_packages()
    assert {"chalicelib.channels.messenger", "chalicelib.channels.whatsapp"} <= set(adapters)
    crossing = [
        f"{MODULES[site.importer].relative_to(ROOT)}:{site.line} imports {site.imported}"
        for site in _import_sites()
        for adapter in adapters
        if _within(site.importer, [adapter, META_PACKAGE])
        and _within(site.imported, adapters)
        and not _within(site.imported, [adapter])
    ]
    assert crossing == [], (
        "an adapter (or channels/meta) imports another adapter; move what they share into "
        "chalicelib/channels/meta/:\n" + "\n".join(crossing)
    )


def test_the_core_names_no_platform_rule() -> None:
    """Platform rules (Graph codes, `messaging_type`, Meta's settings) stay in the adapters."""
    platform_words = ('"UPDATE"', '"RESPONSE"', "messaging_type", "messenger_", "graph_", "2018")
    found = [
        f"{MODULES[module].relative_to(ROOT)}: {word}"
        for module in MODULES
        if _within(module, CORE_PACKAGES)
        for word in platform_words
        if word in MODULES[module].read_text()
    ]
    assert found == [], "platform rules in the core:\n" + "\n".join(found)


def test_every_import_inside_a_function_says_why_it_is_lazy() -> None:
    unexplained = []
    for module, node in _in_function_imports():
        lines = MODULES[module].read_text().splitlines()[node.lineno - 1 : node.end_lineno]
        if not any("# lazy: " in line for line in lines):
            unexplained.append(f"{MODULES[module].relative_to(ROOT)}:{node.lineno}")
    assert unexplained == [], (
        "imports inside functions without a `# lazy: <reason>` comment (move them to the "
        "top unless they keep a heavy module off the cold-start path):\n" + "\n".join(unexplained)
    )


def test_importing_the_app_loads_no_heavy_module() -> None:
    loaded = "{name.split('.')[0] for name in sys.modules}"
    heavy = set(COLD_START_FORBIDDEN)
    probe = f"import json, sys, app; print(json.dumps(sorted({loaded} & {heavy!r})))"
    environment = {**os.environ, "BANKBRIDGE_STAGE": "dev"}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


CONNECTORS = "chalicelib.connectors"


def _standard_folders() -> list[str]:
    """`chalicelib.connectors.<folder>` of every standard `Standard` names."""
    return [f"{CONNECTORS}.{standard.folder}" for standard in Standard]


def test_a_standard_folder_imports_no_other_standard_and_shared_code_imports_none() -> None:
    """A standard's folder holds all it needs and only that: it may use the shared connector
    modules (base, paging, parsing, the HTTP and OAuth clients), never another standard's
    folder; the shared modules name no standard's folder (the registry finds them by name)."""
    folders = _standard_folders()
    assert f"{CONNECTORS}.brazil" in folders and f"{CONNECTORS}.cdr" in folders
    assert all(folder in MODULES for folder in folders), "a standard without its folder"
    crossing = []
    for site in _import_sites():
        if not _within(site.importer, [CONNECTORS]) or not _within(site.imported, folders):
            continue
        home = next((f for f in folders if _within(site.importer, [f])), None)
        if home is None or not _within(site.imported, [home]):
            crossing.append(f"{site.importer}:{site.line} imports {site.imported}")
    assert crossing == [], "connector code reaching into a standard's folder:\n" + "\n".join(
        crossing
    )
