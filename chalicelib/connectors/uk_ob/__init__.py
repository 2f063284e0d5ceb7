"""UK Open Banking: everything the standard needs, in one folder.

`connector` (Account and Transaction API v3.1.x and v4.0, account-access-consents,
FAPI request objects), `mapping` (pure payload mapping to the canonical models),
`rules` (versions, signed request objects, the signed-body issuer), `events` (Event
Notification SETs in, fraud answers signed with a detached `x-jws-signature` out).
"""
