"""Errors the server reports to operators (as opposed to protocol errors, which go to clients)."""


class ConfigurationError(Exception):
    """A setting is invalid or something it names cannot be found; the message says what to do."""


class ModelNotFoundError(ConfigurationError):
    """A model the configuration asks for is not installed; the message names the package or flag."""
