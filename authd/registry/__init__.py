"""Who is known: `identities` (the registry of UINs, their status, contacts and VIDs), `uin`
(issuing and checking UINs and VIDs), `clients` (relying parties, their API keys and the
key cache) and `subjects` (the identity an authentication is about: resolved from a UIN or
VID, then found usable or refused).
"""
