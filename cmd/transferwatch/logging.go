package main

import (
	"io"
	"log/slog"
)

// newLogger returns the JSON logger of the service on w. Durations are written as strings
// ("1.5s", "250ms"), whichever package logs them: slog's JSON handler would write nanoseconds.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: durationString}))
}

// durationString is a ReplaceAttr that writes a time.Duration as its String.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
