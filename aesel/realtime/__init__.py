"""The streaming path: events, the bus between nodes, and the hub that fans out."""
