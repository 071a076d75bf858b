package console

import "os"

// sourceFS reads the package's own sources, for the catalog test.
var sourceFS = os.DirFS(".")
