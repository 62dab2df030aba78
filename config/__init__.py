"""Configuration and inventory: YAML validated once at load into typed models."""
