"""Configuration and inventory: YAML validated once at load into typed models."""

#: the environment variable naming the config file (when no --config is given)
CONFIG_ENV = "XUNJIAN_CONFIG"
