"""Who may open a session: API keys, Genesys signatures and JWTs, checked at the handshake.

- `api_keys`: the key a client presented (query or header) and whether it is configured;
- `tokens`: JWT verification (HS256/RS256, allow-listed algorithms, time claims);
- `brake`: the brute-force brake on repeated failures from one address;
- `handshake`: the decision for one upgrade request: which dialect, who it is, or why it is refused.
The RFC 9421 signature code itself is sans-I/O, in `protocol.httpsig`.
"""
