"""Running several identical nodes as one cluster: events and cluster state on Kafka,
membership and UDP device ownership from heartbeats on Kafka, Consul for the deployments
that run it. Nothing here is needed by a single node."""
