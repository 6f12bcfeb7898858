package mgmt

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id parameters for new password hashes. The
// zero value means the OWASP recommendation: t=2 passes over m=19 MiB with
// p=1 lane, about 20-40 ms and 19 MiB per login on a current core — a
// deliberate cost. Concurrent hashing is bounded (Config.MaxConcurrentHashes),
// so a login storm cannot exhaust memory: 2 cores × 2 = 4 hashes × 19 MiB.
// Existing hashes keep the parameters they were made with (they are encoded
// in the PHC string), so changing these affects new passwords only.
type PasswordParams struct {
	Time      uint32 // passes; 0 means 2
	MemoryKiB uint32 // 0 means 19456 (19 MiB)
	Threads   uint8  // 0 means 1
}

func (p PasswordParams) withDefaults() PasswordParams {
	if p.Time == 0 {
		p.Time = 2
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = 19 * 1024
	}
	if p.Threads == 0 {
		p.Threads = 1
	}
	return p
}

// Bounds accepted when verifying a stored hash (a tampered store must not
// make a login allocate gigabytes).
const (
	maxArgonMemoryKiB = 256 * 1024
	maxArgonTime      = 16
	argonKeyLen       = 32
	argonSaltLen      = 16
)

// hasher hashes and verifies passwords with a bound on concurrency.
type hasher struct {
	params PasswordParams
	sem    chan struct{}
}

func newHasher(p PasswordParams, concurrency int) *hasher {
	return &hasher{params: p.withDefaults(), sem: make(chan struct{}, concurrency)}
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &RateLimitError{Retry: time.Second} // the server is busy checking passwords
	}
}

func (h *hasher) release() { <-h.sem }

// hash returns the PHC string $argon2id$v=19$m=...,t=...,p=...$salt$hash.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := h.params
	sum := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

// verify reports whether password matches the PHC string, in constant time
// with respect to the hash. An unparsable hash never matches.
func (h *hasher) verify(ctx context.Context, password, phc string) (bool, error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parsePHC(phc string) (PasswordParams, []byte, []byte, error) {
	var p PasswordParams
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("password hash: not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("password hash: unsupported argon2 version")
	}
	var m, t uint32
	var th uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil {
		return p, nil, nil, fmt.Errorf("password hash: bad parameters")
	}
	if m < 8 || m > maxArgonMemoryKiB || t < 1 || t > maxArgonTime || th < 1 {
		return p, nil, nil, fmt.Errorf("password hash: parameters out of range")
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	sum, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(sum) < 16 || len(sum) > 64 {
		return p, nil, nil, fmt.Errorf("password hash: bad salt or hash")
	}
	return PasswordParams{Time: t, MemoryKiB: m, Threads: th}, salt, sum, nil
}
