"""Bank events: signed ingestion, fan-out to chat, and fraud-alert answers back to the bank.

Flow: `ingest` verifies (`signing` for the generic HMAC header, `security_event_tokens`
for UK Open Banking SETs), normalises (`normalise`) and queues; `fanout` is the
events-queue worker that de-duplicates, finds the linked users through the GSI and tells them;
`answers` takes a user's "It was me / Not me" and forwards it to the bank (`forwarding`).
"""
