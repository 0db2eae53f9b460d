"""Storage contracts (``base``) and backends, one folder each."""
