package spool

// SetCompactBytes sets the size past which Remove compacts the file, until
// the test ends.
func SetCompactBytes(cleanup func(func()), n int64) {
	old := compactBytes
	compactBytes = n
	cleanup(func() { compactBytes = old })
}

// MarkerSuffix names the marker beside an open spool.
const MarkerSuffix = markerSuffix
