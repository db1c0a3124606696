"""Operating the service: Prometheus metrics, structured logs and the request-id middleware."""
