"""Instagram Messaging: webhook parsing, Send API rendering and delivery for one account."""

CHANNEL = "instagram"
