"""Prometheus metrics.

Each metric is defined by the module that does the counting: request counts,
durations and bytes here (requests.py, fed by registry/observe.py); database and
object-store errors in storage/database.py and storage/objects.py; webhook
deliveries, failures and lag in registry/notifications/delivery.py; stored blobs,
bytes and upload sessions in usage.py; dropped pull events in registry/pulls.py.
exposition.py gathers them for `/metrics`, from this process or, when the server
runs several processes, from every process of the run (multiprocess.py).
"""
