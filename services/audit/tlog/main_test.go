package tlog_test

import (
	"io"
	"os"
	"testing"

	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	// Tessera logs every log it creates and every awaiter it stops
	// through klog; tests and benchmarks make many of both.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	code := m.Run()
	cleanupBenchLogs()
	os.Exit(code)
}
