"""Facebook Messenger: webhook verification and parsing, Send API rendering and delivery."""

CHANNEL = "messenger"
