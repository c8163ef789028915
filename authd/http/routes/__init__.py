"""HTTP routes, one module per client of the service."""
