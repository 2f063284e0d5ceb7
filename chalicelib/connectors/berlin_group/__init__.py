"""Berlin Group NextGenPSD2 (EU): everything the standard needs, in one folder.

`connector` (XS2A 1.3.x consents, OAuth and redirect SCA, account information),
`mapping` (pure payload mapping to the canonical models), `rules` (the versions a
config may name), `events` (the standard defines no pushed events or fraud answer:
its banks use BankBridge's defaults).
"""
