"""A small OpenID Connect provider for the single sign-on tests (see ``process.py``)."""

PASSWORD = "provider-password"
