package tn3270_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/emulator/tn3270"
	"github.com/termgate/termgate/internal/demo/tn3270host"
)

var record = flag.Bool("record", false, "re-record testdata/records from s3270 traces of the demo host and Hercules")

// A recording is testdata/records/NAME.hex (comment lines starting with
// '#', a "# model N" line, then one host-to-terminal 3270 record per line
// in hex, TN3270E headers removed) and NAME.screen (the screen s3270 showed
// after those records).

func TestRecordedStreams(t *testing.T) {
	if *record {
		recordAll(t)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "records", "*.hex"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recordings in testdata/records (run go test -run TestRecordedStreams -record)")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".hex")
		t.Run(name, func(t *testing.T) {
			model, recs := readRecording(t, file)
			want, err := os.ReadFile(strings.TrimSuffix(file, ".hex") + ".screen")
			if err != nil {
				t.Fatal(err)
			}
			m, err := tn3270.LookupModel(model)
			if err != nil {
				t.Fatal(err)
			}
			e := tn3270.NewEngine(m, nil, zerolog.Nop())
			for i, r := range recs {
				if _, err := e.Process(r); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
			wantRows := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
			got := e.Screen()
			if len(got) != len(wantRows) {
				t.Fatalf("%d rows, s3270 showed %d", len(got), len(wantRows))
			}
			for i := range got {
				if strings.TrimRight(got[i], " ") != strings.TrimRight(wantRows[i], " ") {
					t.Errorf("row %d:\n ours  %q\n s3270 %q", i, got[i], wantRows[i])
				}
			}
		})
	}
}

func readRecording(t *testing.T, file string) (int, [][]byte) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	model := 2
	var recs [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m, ok := strings.CutPrefix(line, "# model "); ok {
			if model, err = strconv.Atoi(m); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, b)
	}
	return model, recs
}

// recordAll re-records every recording with s3270 -trace.
func recordAll(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &tn3270host.Server{}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(context.Background(), ln) }()
	defer func() { srv.Close(); <-done }()
	demo := "Wait(10,InputField)\nAscii()\n" +
		"String(alice)\nTab()\nString(wrong)\nEnter()\nWait(10,InputField)\nAscii()\n" +
		"String(alice)\nTab()\nString(demo)\nEnter()\nWait(10,InputField)\nAscii()\n" +
		"String(1)\nEnter()\nWait(10,Unlock)\nAscii()\n" +
		"PF(3)\nWait(10,InputField)\nString(2)\nEnter()\nWait(10,Unlock)\nAscii()\nQuit()\n"
	names := []string{"logon", "invalid-password", "menu", "balances", "status"}
	recordOne(t, "demo-tn3270e", "Connect("+ln.Addr().String()+")\n"+demo, true, names)
	recordOne(t, "demo-tn3270", "Connect(N:"+ln.Addr().String()+")\n"+demo, false, names)
	herc := startHercules(t)
	recordOne(t, "hercules", "Connect("+herc+")\nWait(20,Output)\nAscii()\nQuit()\n", false, []string{"logo"})
}

// recordOne runs script under s3270 -trace and writes one recording per
// Ascii() snapshot: the host records received before it, and the screen.
func recordOne(t *testing.T, prefix, script string, tn3270e bool, names []string) {
	trace := filepath.Join(t.TempDir(), "trace")
	out := s3270Run(t, script, "-model", "3279-2-E", "-codepage", "cp037", "-trace", "-tracefile", trace)
	screens := s3270Screens(out)
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dec tn3270.Decoder
	var recs [][]byte
	snap := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "< 0x") {
			fields := strings.Fields(line)
			b, err := hex.DecodeString(fields[len(fields)-1])
			if err != nil {
				t.Fatalf("trace line %q: %v", line, err)
			}
			dec.Feed(b, func(ev tn3270.Event) error {
				if ev.Kind != tn3270.EventRecord {
					return nil
				}
				r := ev.Data
				if tn3270e {
					h, data, err := tn3270.ParseHeader(r)
					if err != nil || h.DataType != tn3270.Data3270 {
						return nil
					}
					r = data
				}
				recs = append(recs, r)
				return nil
			})
			continue
		}
		if strings.Contains(line, "s3stdin read 'Ascii()'") {
			if snap >= len(screens) || snap >= len(names) {
				t.Fatalf("%s: more Ascii() than screens", prefix)
			}
			base := filepath.Join("testdata", "records", prefix+"-"+names[snap])
			var hx strings.Builder
			fmt.Fprintf(&hx, "# Host-to-terminal 3270 records recorded with s3270 -trace (%s).\n# model 2\n", prefix)
			for _, r := range recs {
				hx.WriteString(hex.EncodeToString(r) + "\n")
			}
			if err := os.WriteFile(base+".hex", []byte(hx.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(base+".screen", []byte(strings.Join(screens[snap], "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			snap++
		}
	}
	if snap != len(names) {
		t.Fatalf("%s: recorded %d snapshots, want %d", prefix, snap, len(names))
	}
}
