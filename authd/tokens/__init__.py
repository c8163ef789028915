"""Identity tokens issued after an authentication, and the upkeep of the signing key ring inside a
running server.
"""
