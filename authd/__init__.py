"""authd: identity authentication for social-protection programs."""

__version__ = "0.1.0"
