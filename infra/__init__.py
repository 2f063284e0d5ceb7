"""BankBridge's tooling around the product in `chalicelib/`, one package per audience.

- `aws`: deployment (the resources template, provisioning, the Lambda package, deploy);
- `local`: the local development stack (moto, the sandbox bank, the console), dev-only;
- `cli`: the `bankbridge` operator command, the only part shipped in the wheel.

`aws` and `local` never import each other, except the local stack provisioning
moto through `infra.aws.provision` (tests/infra/unit/test_import_boundaries.py).
"""
