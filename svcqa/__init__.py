"""svcqa: a browser dashboard and CLI that checks every step of so-vits-svc voice training."""

__version__ = "0.1.0"
