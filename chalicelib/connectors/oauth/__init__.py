"""The OAuth 2.0 / FAPI client every standard's connector uses, over the one HTTP path.

`authserver`: the bank's authorization server (discovered metadata with config
overrides, JWKS, client authentication: client secret or `private_key_jwt`, JWT
signing). `client`: what a connector asks of it (the authorize request with PKCE,
nonce, a signed request object (RFC 9101) and PAR (RFC 9126), token revocation
(RFC 7009)). The standards differ only in the scopes and claims they add
(`Connector.authorization_scopes` / `authorization_claims`).

Why not authlib: its OAuth client (`OAuth2Session` and friends) owns the HTTP calls
through its own requests/httpx session, which would be a second path to banks beside
`BankHttpClient` and lose what that one enforces: configured-origin and SSRF checks on
every connection, the Lambda deadline, bounded retries, `x-fapi-interaction-id`, error
mapping and mTLS. Its transport-free helpers (PKCE challenge, client assertion, request
object) are each a few lines here on `joserfc` (authlib's own JOSE library), so adding
authlib would add a dependency to every Lambda zip without removing code.
"""
