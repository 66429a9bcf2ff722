"""Content-addressed storage: object backends, blob store, metadata, uploads."""
