"""Australia's Consumer Data Right (banking): everything the standard needs, in one folder.

`connector` (Consumer Data Standards banking APIs, PAR with a signed request object,
arrangement revocation), `mapping` (pure payload mapping to the canonical models),
`rules` (versions, signed request objects), `events` (the standards define no pushed
events or fraud answer: its banks use BankBridge's defaults).
"""
