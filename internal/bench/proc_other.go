//go:build !linux

package bench

import "time"

func startChild(name string, argv []string, dir string) (*child, error) {
	return nil, &ChildError{Name: name, Err: ErrUnsupported}
}

func signalGroup(int, bool) {}

func readRSS(int) (int64, error) { return 0, ErrUnsupported }

func readCPU(int) (time.Duration, error) { return 0, ErrUnsupported }

func cpuModel() string { return "" }
