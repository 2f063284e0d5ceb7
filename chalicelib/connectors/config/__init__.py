"""Connector configs: everything BankBridge needs to talk to one institution, minus secrets.

`models` holds the pydantic models (the shape a bank registers), `rules` the
field rules they apply (bank URLs, secret references, headers, limits),
`context` how a config is validated when written or read back, and
`field_errors` how a refusal is reported to an admin.
"""
