"""WhatsApp Cloud API: webhook parsing, pseudonymous identity, message rendering and delivery."""

CHANNEL = "whatsapp"
