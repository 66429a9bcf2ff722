"""Serving the app: the listening address, the HTTP servers (granian, Hypercorn), the
worker processes and what each of them sets up before it serves."""
