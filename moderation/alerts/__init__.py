"""alerts feature: deadline alerts and daily digests, decided by a scan and sent through the email outbox."""
