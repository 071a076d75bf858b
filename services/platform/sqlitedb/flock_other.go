//go:build !unix

package sqlitedb

import (
	"errors"
	"os"
)

// flock is not implemented here: Comity's embedded deployment runs on Unix
// systems, and a lock that does not exclude would be worse than none.
func flock(*os.File, bool) (bool, error) {
	return false, errors.New("database lock files need a Unix system (flock)")
}
