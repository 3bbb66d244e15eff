// Package e2e holds the end-to-end tests of the service: the real binary as
// a child process, an in-process Kafka-protocol cluster (kfake), real
// redis-server processes, kcat (librdkafka) as an outside producer, and a
// real Prometheus server scraping the service with the alert rules loaded.
// It has no non-test code.
package e2e
