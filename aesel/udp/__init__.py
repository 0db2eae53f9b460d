"""UDP: event ingress on :8762 and datagrams out to registered devices."""
