"""Open Finance Brasil defines no pushed events and no fraud answer: its banks use the defaults.

The accounts 2.4.2 and consents 3.3.1 APIs define no event notifications, so a bank
pushing events to BankBridge uses the format of its signing method (the registry's
defaults: an FDX notification under the shared secret, a UK OB SET as a JWS), and takes
FDX's `SuspectedFraudIncident` answer, as a compact JWS where it takes only signed bodies.
"""

from __future__ import annotations

from chalicelib.connectors.pushed_events import StandardEvents

EVENTS = StandardEvents()
