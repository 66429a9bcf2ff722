"""The read-only web UI at /ui/: server-rendered pages over the storage services.

routes.py   the pages and their one route list
viewer.py   who is looking and which repositories they may see (the same policy as /v2/)
render.py   the templates (escaped by default), their filters, and the error pages
"""
