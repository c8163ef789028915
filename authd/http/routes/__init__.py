"""HTTP routes, one module per client of the service: `identities` and `faces` (enrollment
stations, adjudicators), `auth` (counters: OTP, authenticate), `resident` (the resident's own
controls), `tokens` (relying parties: JWKS, introspection, revocation), `audit` (operators),
`ops` (health, readiness, metrics) and `docs`. Shared code lives in authd.http, never in
another route module.
"""
