"""Identity tokens: `issuance` (the signed JWT a counter receives after an authentication, its
record, introspection and revocation) and `rotation` (the signing key ring of a running
server: rotated when due, pruned, and followed when another process changes it).
"""
