"""labbook's management commands."""
