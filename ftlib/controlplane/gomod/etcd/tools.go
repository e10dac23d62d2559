//go:build tools

// The main packages this wrapper builds; never compiled itself.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
