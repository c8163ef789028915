"""Authenticating a person at a counter: `throttle` and `limiter` (the rate limits a call passes
before anything is looked up), `service` (the call: subject, factors, decision, token, one
audit event), `factors/` (each factor checks its evidence), `decision` (the pure decision
from the verified factors and the relying party's policy) and `resident` (the resident's
own controls: auth-locks and history).
"""
