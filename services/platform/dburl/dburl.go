// Package dburl reads the --database setting every service takes: a
// PostgreSQL URL (postgres://… or postgresql://…) or an SQLite file
// (sqlite:PATH).
package dburl

import (
	"fmt"
	"strings"
)

// Engine is a storage engine.
type Engine string

// The engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Parse returns the engine and what to open: a file path for SQLite, the URL
// itself for PostgreSQL.
func Parse(s string) (Engine, string, error) {
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return Postgres, s, nil
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if path == "" {
			return "", "", fmt.Errorf("database %q: sqlite: needs a file path, e.g. sqlite:./var/directory.db", s)
		}
		return SQLite, path, nil
	}
	return "", "", fmt.Errorf("database %q: want postgres://… or sqlite:PATH", s)
}
