"""What every Meta messaging platform (Messenger, WhatsApp, Instagram) shares, written once.

The Graph API is one family: the same `X-Hub-Signature-256` and subscription
handshake, `appsecret_proof`, error envelope and retry rules, the same
`object`/`entry[]` webhook envelope and the same 24-hour window. The adapters
(`channels/<platform>/`) import this package and the port's vocabulary, never
each other.
"""
