package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/iagente/iagente-sdr/impl"
)

// Passwords are hashed with argon2id at OWASP's recommended minimum (19 MiB,
// two passes, one lane) and stored as PHC strings:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// A check reads the parameters from the string, so they can be raised later
// without invalidating the hashes already stored.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16

	// Limits on the parameters a stored string may ask for, so that a
	// corrupt or hostile row cannot make a check allocate or spin without
	// bound.
	maxArgonMemory  = 1 << 20 // KiB: 1 GiB
	maxArgonTime    = 10
	maxArgonThreads = 16
	minSaltLen      = 8
	maxSaltLen      = 64
	minKeyLen       = 16
	maxKeyLen       = 64
)

// Password policy.
const (
	// MinPasswordChars is the shortest password accepted, in characters.
	MinPasswordChars = 10
	// MaxPasswordBytes is the longest password accepted, in bytes.
	MaxPasswordBytes = 256
	// generatedPasswordLen is the length of NewPassword's passwords: about
	// 117 bits from passwordAlphabet.
	generatedPasswordLen = 20
)

// passwordAlphabet has no characters that look alike (0 O 1 l I), so a
// printed password can be typed back without guessing.
const passwordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

var b64 = base64.RawStdEncoding.Strict()

// argonSlots bounds how many hashes are computed at once. Each takes its
// memory parameter (19 MiB) for as long as it runs, so a flood of sign-ins
// would otherwise take memory in proportion to the flood; beyond the cores,
// more at once would not finish sooner anyway.
var argonSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// argonIDKey is argon2.IDKey; a test counts the work through it.
var argonIDKey = argon2.IDKey

func idKey(password, salt []byte, p argonParams, keyLen uint32) []byte {
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	return argonIDKey(password, salt, p.time, p.memory, p.threads, keyLen)
}

type argonParams struct {
	memory  uint32
	time    uint32
	threads uint8
}

var currentParams = argonParams{memory: argonMemory, time: argonTime, threads: argonThreads}

func encodeHash(p argonParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// HashPassword returns the PHC string of password with a fresh random salt.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	p := currentParams
	key := idKey([]byte(password), salt, p, argonKeyLen)
	return encodeHash(p, salt, key), nil
}

// CheckPassword reports whether password matches encoded, a string made by
// HashPassword (or any argon2id v19 PHC string within the limits above). A
// malformed string is simply a mismatch.
func CheckPassword(encoded, password string) bool {
	p, salt, want, ok := decodeHash(encoded)
	if !ok {
		return false
	}
	got := idKey([]byte(password), salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash has the current parameters and a hash no password is known to
// produce.
var dummyHash = encodeHash(currentParams, make([]byte, argonSaltLen), []byte(strings.Repeat("\xa5", argonKeyLen)))

// CheckPasswordAgainstNothing does the work of a CheckPassword that fails, for
// a sign-in with an unknown e-mail: answering it faster than a wrong password
// would tell an attacker which e-mails have accounts.
func CheckPasswordAgainstNothing(password string) {
	CheckPassword(dummyHash, password)
}

// decodeHash parses "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH", refusing anything
// else and any parameter outside the limits.
func decodeHash(encoded string) (p argonParams, salt, key []byte, ok bool) {
	// Go's base64 skips CR and LF; a stored hash has neither.
	if strings.ContainsAny(encoded, "\r\n") {
		return p, nil, nil, false
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, false
	}
	if v, ok := field(parts[2], "v"); !ok || v != argon2.Version {
		return p, nil, nil, false
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, false
	}
	m, okM := field(params[0], "m")
	t, okT := field(params[1], "t")
	threads, okP := field(params[2], "p")
	if !okM || !okT || !okP ||
		t < 1 || t > maxArgonTime ||
		threads < 1 || threads > maxArgonThreads ||
		m < 8*threads || m > maxArgonMemory { // 8 KiB per lane is Argon2's own minimum
		return p, nil, nil, false
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, nil, nil, false
	}
	key, err = b64.DecodeString(parts[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, false
	}
	return argonParams{memory: uint32(m), time: uint32(t), threads: uint8(threads)}, salt, key, true
}

// field parses "name=N", where N is a decimal without sign or leading zeros
// that fits in 32 bits.
func field(s, name string) (uint64, bool) {
	digits, found := strings.CutPrefix(s, name+"=")
	if !found {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != digits {
		return 0, false
	}
	return n, true
}

// ValidatePassword returns an EValidation error, with a detail for the
// "password" field, if password breaks the policy: at least
// MinPasswordChars characters and at most MaxPasswordBytes bytes. The upper
// bound is in bytes because that is what hashing costs.
func ValidatePassword(password string) error {
	var msg string
	switch {
	case utf8.RuneCountInString(password) < MinPasswordChars:
		msg = fmt.Sprintf("Password must be at least %d characters long.", MinPasswordChars)
	case len(password) > MaxPasswordBytes:
		msg = fmt.Sprintf("Password must be at most %d bytes long.", MaxPasswordBytes)
	default:
		return nil
	}
	return impl.Errorf(impl.EValidation, "%s", msg).WithDetail("password", msg)
}

// NewPassword returns a random password of generatedPasswordLen characters
// from passwordAlphabet, for the CLI and the development bootstrap to print
// once.
func NewPassword() (string, error) {
	// Bytes at or above the largest multiple of the alphabet's size are
	// thrown away, so every character is equally likely.
	const limit = 256 - 256%len(passwordAlphabet)
	out := make([]byte, 0, generatedPasswordLen)
	buf := make([]byte, 2*generatedPasswordLen)
	for len(out) < generatedPasswordLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < generatedPasswordLen {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	return string(out), nil
}
