"""FDX (Financial Data Exchange, US): everything the standard needs, in one folder.

`connector` (Core API v6, tolerant of v5, over the one HTTP client), `mapping` (pure
payload mapping to the canonical models), `rules` (the versions a config may name),
`events` (FDX Event Notifications in, the `SuspectedFraudIncident` fraud answer out).
"""
