"""The "qnext" experts implementation for transformers, backend choice, and load()."""
