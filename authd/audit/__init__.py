"""The audit log: `events` (one hash-chained event per state-changing or authentication call),
`sequencer` (one process links committed events into the chain and signs checkpoints),
`checkpoints` (signed heads of the chain), `verify` (checking the chain and checkpoints) and
`search` (finding why someone was refused, for the API and the CLI).
"""
