"""The utility templates BankBridge needs approved on WhatsApp, as Meta's API creates them.

Outside the 24-hour customer service window only an approved template reaches
a person. An operator submits these definitions once per WhatsApp Business
Account (`POST /{waba-id}/message_templates`, category UTILITY: transactional,
non-promotional), and names them in settings. The sends fill the `{{n}}` body
parameters in order and give each quick-reply button its payload
(`rendering.render_template`), so the button text is fixed here and the answer
the core recognises travels in the payload, as on Messenger.
"""

from __future__ import annotations

from typing import Any

FRAUD_ALERT_TEMPLATE = "bankbridge_fraud_alert"
CONSENT_REMINDER_TEMPLATE = "bankbridge_consent_reminder"
TEMPLATE_LANGUAGE = "en_US"

FRAUD_ALERT_DEFINITION: dict[str, Any] = {
    "name": FRAUD_ALERT_TEMPLATE,
    "language": TEMPLATE_LANGUAGE,
    "category": "UTILITY",
    "components": [
        {
            "type": "BODY",
            "text": ("Suspicious card payment of {{1}} at {{2}} on {{3}} at {{4}}. Was this you?"),
            "example": {"body_text": [["$84.20", "EXAMPLE STORE", "••4242", "14:02 UTC"]]},
        },
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Yes, it was me"},
                {"type": "QUICK_REPLY", "text": "No, it wasn't"},
            ],
        },
    ],
}
"""Body {{1}}-{{4}}: amount, merchant, masked card, time (as `events.alerts` fills them)."""

CONSENT_REMINDER_DEFINITION: dict[str, Any] = {
    "name": CONSENT_REMINDER_TEMPLATE,
    "language": TEMPLATE_LANGUAGE,
    "category": "UTILITY",
    "components": [
        {
            "type": "BODY",
            "text": (
                "Your link to {{1}} expires {{2}}. Link again to keep your balances, "
                "transactions and fraud alerts here."
            ),
            "example": {"body_text": [["Sandbox Bank", "on March 3"]]},
        },
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Link again"}]},
    ],
}
"""Body {{1}}-{{2}}: the bank's name and when its consent ends ("on March 3", or "soon")."""
