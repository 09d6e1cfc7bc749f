"""Configuration: file loading, reference resolution and interpolation."""
