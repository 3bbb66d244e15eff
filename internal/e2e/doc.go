// Package e2e holds the end-to-end tests of the service: the real binary as
// a child process, an in-process Kafka-protocol cluster (kfake), real
// redis-server processes, and kcat (librdkafka) as an outside producer.
// It has no non-test code.
package e2e
