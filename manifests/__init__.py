"""Pure OCI content rules: digests, media types, manifest parsing. No I/O."""
