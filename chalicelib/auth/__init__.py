"""OAuth 2.0 from chat: PKCE, single-use state, token exchange and refresh, the token vault."""
