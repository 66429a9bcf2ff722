"""The pull-through cache: repositories under an upstream's prefix are fetched from that
upstream on a miss and stored as ordinary content (docs/proxy.md)."""
