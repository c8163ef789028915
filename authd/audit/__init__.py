"""The audit log: one event per state-changing or authentication call, its proof chain, and the
search operators use to find why someone was refused.
"""
