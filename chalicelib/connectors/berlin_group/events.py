"""Berlin Group defines no pushed events and no fraud answer: its banks use the defaults.

NextGenPSD2 XS2A 1.3.x has no event notification API, so a bank pushing events to
BankBridge uses the format of its signing method (the registry's defaults: an FDX
notification under the shared secret, a UK OB SET as a JWS), and takes FDX's
`SuspectedFraudIncident` answer, as a compact JWS where it takes only signed bodies.
"""

from __future__ import annotations

from chalicelib.connectors.pushed_events import StandardEvents

EVENTS = StandardEvents()
