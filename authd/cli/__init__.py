"""The `authd` command: serve, init and the operator tasks, one module per group.
"""
