package token

import "testing"

func TestNormalizeHostPort(t *testing.T) {
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"example.com:23", "example.com:23"},
		{"EXAMPLE.com.:23", "example.com:23"},
		{"Db2.Example.COM:992", "db2.example.com:992"},
		{"host_1.corp:21", "host_1.corp:21"},
		{"localhost:2323", "localhost:2323"},
		{"xn--bcher-kva.example:23", "xn--bcher-kva.example:23"},
		{"127.0.0.1:23", "127.0.0.1:23"},
		{"127.0.0.1.:23", "127.0.0.1:23"},
		{"[::1]:23", "[::1]:23"},
		{"[2001:DB8:0:0:0:0:0:1]:22", "[2001:db8::1]:22"},
		{"[::ffff:127.0.0.1]:23", "127.0.0.1:23"},
		{"[::ffff:7f00:1]:23", "127.0.0.1:23"},
		{"0x7f.example:23", "0x7f.example:23"}, // only the last label decides
		{"a.1b:23", "a.1b:23"},
		{"example.com:65535", "example.com:65535"},
		{"example.com:1", "example.com:1"},

		{"example.com:023", ""},
		{"example.com:0", ""},
		{"example.com:65536", ""},
		{"example.com:99999", ""},
		{"example.com:+23", ""},
		{"example.com:telnet", ""},
		{"example.com:", ""},
		{"example.com", ""},
		{":23", ""},
		{".:23", ""},
		{"example..com:23", ""},
		{"example.com..:23", ""},
		{"-example.com:23", ""},
		{"example-.com:23", ""},
		{"exa mple.com:23", ""},
		{"exa%2fmple.com:23", ""},
		{"bücher.example:23", ""},
		{"127.1:23", ""},
		{"0x7f.0.0.1:23", ""},
		{"0x7f000001:23", ""},
		{"2130706433:23", ""},
		{"0177.0.0.1:23", ""},
		{"127.000.0.1:23", ""},
		{"1.2.3.4.5:23", ""},
		{"256.0.0.1:23", ""},
		{"[fe80::1%eth0]:23", ""},
		{"[127.0.0.1]:23", ""},
		{"[example.com]:23", ""},
		{"::1:23", ""},
		{"[]:23", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeHostPort(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeHostPort(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeHostPort(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			continue
		}
		if again, err := NormalizeHostPort(got); err != nil || again != got {
			t.Errorf("NormalizeHostPort(%q) = %q, %v; not idempotent", got, again, err)
		}
	}
}

func TestNormalizeHostPortLimits(t *testing.T) {
	label := "a234567890123456789012345678901234567890123456789012345678901234" // 64
	if _, err := NormalizeHostPort(label + ".example:23"); err == nil {
		t.Error("64-byte label accepted")
	}
	if _, err := NormalizeHostPort(label[1:] + ".example:23"); err != nil {
		t.Errorf("63-byte label refused: %v", err)
	}
	long := ""
	for len(long) < 260 {
		long += "abcdefghi."
	}
	if _, err := NormalizeHostPort(long + "com:23"); err == nil {
		t.Error("name longer than 253 bytes accepted")
	}
}
