package main

import (
	"flag"
	"fmt"
	"io"
)

// Usage of each command, printed by `transferwatch COMMAND --help` on stdout (exit 0) and, on
// a usage error, on stderr (exit 2).
const (
	runUsage = `Usage: transferwatch run --config FILE [--http-addr ADDR] [--log-level LEVEL]

The service: consume transfer events from Kafka, keep the sketches in Redis, decide,
publish decisions, serve the HTTP API and /metrics. Refuses to start without a subject key
(subject_key_file or TW_SUBJECT_KEY).

Flags:
  --config FILE        configuration file (YAML; unknown keys are errors)
  --http-addr ADDR     overrides http.addr
  --log-level LEVEL    debug, info, warn or error (default info)

Environment overrides: TW_KAFKA_BROKERS, TW_REDIS_ADDRS, TW_REDIS_PASSWORD,
TW_KAFKA_SASL_PASSWORD, TW_SUBJECT_KEY, TW_HTTP_ADDR, TW_API_TOKEN.
`
	demoUsage = `Usage: transferwatch demo [--duration D] [--http-addr ADDR] [--config FILE] [--log-level LEVEL]

The whole product on embedded defaults: an in-process Kafka-protocol broker, the in-process
store (or Redis with TW_REDIS_ADDRS), synthetic traffic of six entities, a live view. Uses a
fixed, public subject key: never feed it real data.

Flags:
  --duration D         stop by itself after D (e.g. 2m; default: until interrupted)
  --http-addr ADDR     overrides http.addr (default localhost:8080, or a free port)
  --config FILE        configuration file over the demo's defaults
  --log-level LEVEL    debug, info, warn or error (default info)
`
	checkConfigUsage = `Usage: transferwatch check-config --config FILE [--offline]

Validate a configuration file as the service would and read every file it names (subject
key, API token, TLS CA, certificate and key). Prints "FILE: ok" and exits 0, or prints every
problem, one a line, and exits 1.

Flags:
  --config FILE   configuration file
  --offline       check it away from where it runs (in CI): no subject key needed, and a
                  named file that does not exist here is listed, not a problem; a named
                  file that exists is still read and checked

The environment overrides apply (TW_SUBJECT_KEY, TW_KAFKA_BROKERS, ...).
`
	versionUsage = `Usage: transferwatch version

Print the version, the commit and the Go version of the binary.
`
)

// helpFor returns the usage of cmd, and whether cmd is a command.
func helpFor(cmd string) (string, bool) {
	switch cmd {
	case "run":
		return runUsage, true
	case "demo":
		return demoUsage, true
	case "check-config":
		return checkConfigUsage, true
	case "version", "--version":
		return versionUsage, true
	case "store":
		return storeUsage, true
	case "entity":
		return entityUsage, true
	case "dlq":
		return dlqUsage, true
	case "report":
		return reportUsage, true
	case "help", "-h", "--help":
		return usage, true
	}
	return "", false
}

// wantsHelp reports whether a command's arguments ask for its help: -h, -help or --help
// before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// newFlagSet returns a flag set for a command whose errors go to stderr followed by a pointer
// to the command's help (the help itself is printed by run, on stdout, for --help).
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "Run 'transferwatch %s --help' for usage.\n", name) }
	return fs
}

// parseInterspersed parses args with fs, flags before and after the positional arguments
// (entity ID --json), and returns the positional ones. "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
