"""Authenticating a person at a counter: rate limits first, then each factor checks its evidence,
then the pure decision; and the resident's own controls.
"""
