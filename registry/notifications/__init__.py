"""Webhook notifications, delivered from the event log: sinks.py reads the
`[[notifications]]` tables, envelope.py shapes what a receiver gets, delivery.py
sends it (one process per sink at a time), service.py runs it in a serving process."""
