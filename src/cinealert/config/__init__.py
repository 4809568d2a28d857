"""Settings: one validated model from TOML + ``CINEALERT_*`` environment + ``$CREDENTIALS_DIRECTORY``."""

from cinealert.config.settings import ConfigError, ConfigProblem, Settings, load, parse

__all__ = ["ConfigError", "ConfigProblem", "Settings", "load", "parse"]
