package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/internal/race"
)

func mustHash(t *testing.T, password string) string {
	t.Helper()
	h, err := HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)

func TestHashPasswordRoundTrip(t *testing.T) {
	passwords := []string{"correct horse battery staple", "senha-ção-日本語-🔑", strings.Repeat("x", MaxPasswordBytes), ""}
	if race.Enabled {
		// 24 hashes of 19 MiB with one goroutine: nothing for the detector
		// to watch, and seconds each under it. The plain pass checks all.
		passwords = passwords[:1]
	}
	for _, pw := range passwords {
		h := mustHash(t, pw)
		if !phcRE.MatchString(h) {
			t.Errorf("HashPassword(%q) = %q, not a PHC string with the OWASP parameters", pw, h)
		}
		if !CheckPassword(h, pw) {
			t.Errorf("CheckPassword(HashPassword(%q)) = false", pw)
		}
		for _, wrong := range []string{pw + "x", strings.ToUpper(pw) + "!", pw + " ", "x" + pw} {
			if CheckPassword(h, wrong) {
				t.Errorf("CheckPassword(HashPassword(%q), %q) = true", pw, wrong)
			}
		}
	}
}

func TestHashPasswordSalts(t *testing.T) {
	a, b := mustHash(t, "same password"), mustHash(t, "same password")
	if a == b {
		t.Fatalf("two hashes of one password are equal: %s", a)
	}
	ma, mb := phcRE.FindStringSubmatch(a), phcRE.FindStringSubmatch(b)
	if ma == nil || mb == nil || ma[1] == mb[1] || ma[2] == mb[2] {
		t.Errorf("salts or hashes repeat:\n %s\n %s", a, b)
	}
}

// These were made by argon2-cffi 25.1.0 (the reference C implementation),
// not by this package:
//
//	PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16).hash(...)
//	PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16).hash(...)
//
// The second has other parameters, which CheckPassword must read from the
// string.
func TestCheckPasswordKnownVectors(t *testing.T) {
	vectors := []struct{ encoded, password string }{
		{"$argon2id$v=19$m=19456,t=2,p=1$PU0XCD7h2ktkmJVsMm44lQ$UeAVzuEKwP9WKFTnEBPPYb74gONlSXZIaDkN/Jk+Hqc", "correct horse battery staple"},
		{"$argon2id$v=19$m=65536,t=3,p=4$WXdNOcqDERlK9oEJbnKL+g$qOl7Ra+o0qMSo8VzlYrl9Aw/arCFxgDqSlM5e1lFYkk", "Tr0ub4dor&3 — senha"},
	}
	if race.Enabled {
		vectors = vectors[:1] // as in TestHashPasswordRoundTrip
	}
	for _, v := range vectors {
		if !CheckPassword(v.encoded, v.password) {
			t.Errorf("CheckPassword(%s, %q) = false", v.encoded, v.password)
		}
		if CheckPassword(v.encoded, v.password+".") {
			t.Errorf("CheckPassword(%s) accepts a wrong password", v.encoded)
		}
		// One character of the hash changed, away from its padding bits.
		i := len(v.encoded) - 5
		c := byte('A')
		if v.encoded[i] == c {
			c = 'B'
		}
		tampered := v.encoded[:i] + string(c) + v.encoded[i+1:]
		if _, _, _, ok := decodeHash(tampered); !ok {
			t.Fatalf("the tampered string %s is malformed, which proves nothing", tampered)
		}
		if CheckPassword(tampered, v.password) {
			t.Errorf("CheckPassword(%s) accepts a tampered hash", tampered)
		}
	}
}

func TestCheckPasswordRefusesMalformed(t *testing.T) {
	const salt, key = "PU0XCD7h2ktkmJVsMm44lQ", "UeAVzuEKwP9WKFTnEBPPYb74gONlSXZIaDkN/Jk+Hqc"
	valid := "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key
	if !CheckPassword(valid, "correct horse battery staple") {
		t.Fatal("the base case does not verify")
	}
	bad := map[string]string{
		"empty":                 "",
		"dollar":                "$",
		"plain text":            "correct horse battery staple",
		"argon2i":               "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"argon2d":               "$argon2d$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"bcrypt":                "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
		"version 16":            "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key,
		"no version":            "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key,
		"version with sign":     "$argon2id$v=+19$m=19456,t=2,p=1$" + salt + "$" + key,
		"params out of order":   "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key,
		"missing param":         "$argon2id$v=19$m=19456,t=2$" + salt + "$" + key,
		"extra param":           "$argon2id$v=19$m=19456,t=2,p=1,keyid=x$" + salt + "$" + key,
		"spaces":                "$argon2id$v=19$m=19456, t=2, p=1$" + salt + "$" + key,
		"leading zero":          "$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + key,
		"negative":              "$argon2id$v=19$m=-19456,t=2,p=1$" + salt + "$" + key,
		"m=0":                   "$argon2id$v=19$m=0,t=2,p=1$" + salt + "$" + key,
		"m below 8 per lane":    "$argon2id$v=19$m=31,t=2,p=4$" + salt + "$" + key,
		"m over 1 GiB":          "$argon2id$v=19$m=1048577,t=2,p=1$" + salt + "$" + key,
		"m = 2^32-1":            "$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + key,
		"m over 32 bits":        "$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + key,
		"t=0":                   "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key,
		"t=11":                  "$argon2id$v=19$m=19456,t=11,p=1$" + salt + "$" + key,
		"t huge":                "$argon2id$v=19$m=19456,t=4294967295,p=1$" + salt + "$" + key,
		"p=0":                   "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key,
		"p=17":                  "$argon2id$v=19$m=19456,t=2,p=17$" + salt + "$" + key,
		"p=256 (wraps a uint8)": "$argon2id$v=19$m=19456,t=2,p=256$" + salt + "$" + key,
		"salt not base64":       "$argon2id$v=19$m=19456,t=2,p=1$PU0XCD7h2ktk*JVsMm44lQ$" + key,
		"salt padded":           "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key,
		"salt too short":        "$argon2id$v=19$m=19456,t=2,p=1$PU0XCD7h$" + key,
		"salt empty":            "$argon2id$v=19$m=19456,t=2,p=1$$" + key,
		"hash url alphabet":     "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + strings.ReplaceAll(key, "/", "_"),
		"hash not base64":       "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:10] + "!" + key[11:],
		"hash truncated":        "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:20],
		"hash odd length":       "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:len(key)-1],
		"hash empty":            "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$",
		"hash missing":          "$argon2id$v=19$m=19456,t=2,p=1$" + salt,
		"trailing dollar":       valid + "$",
		"leading text":          "x" + valid,
		"trailing newline":      valid + "\n",
		"newline in the hash":   "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:20] + "\r\n" + key[20:],
	}
	for name, encoded := range bad {
		start := time.Now()
		if CheckPassword(encoded, "correct horse battery staple") {
			t.Errorf("%s: CheckPassword(%q) = true", name, encoded)
		}
		// Refused while parsing, before any argon2 work or allocation.
		if _, _, _, ok := decodeHash(encoded); ok {
			t.Errorf("%s: decodeHash(%q) accepted it", name, encoded)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: refusing took %v", name, d)
		}
	}
}

func TestDecodeHashLimits(t *testing.T) {
	const tail = "$PU0XCD7h2ktkmJVsMm44lQ$UeAVzuEKwP9WKFTnEBPPYb74gONlSXZIaDkN/Jk+Hqc"
	// The largest parameters allowed parse (without being computed here).
	for encoded, want := range map[string]argonParams{
		"$argon2id$v=19$m=1048576,t=10,p=16" + tail: {memory: 1 << 20, time: 10, threads: 16},
		"$argon2id$v=19$m=8,t=1,p=1" + tail:         {memory: 8, time: 1, threads: 1},
		"$argon2id$v=19$m=128,t=1,p=16" + tail:      {memory: 128, time: 1, threads: 16},
	} {
		p, salt, key, ok := decodeHash(encoded)
		if !ok || p != want || len(salt) != 16 || len(key) != 32 {
			t.Errorf("decodeHash(%s) = %+v, %d-byte salt, %d-byte key, %v; want %+v", encoded, p, len(salt), len(key), ok, want)
		}
	}
}

func TestCheckPasswordAgainstNothing(t *testing.T) {
	p, _, key, ok := decodeHash(dummyHash)
	if !ok || p != currentParams || len(key) != argonKeyLen {
		t.Fatalf("dummy hash %s does not have the current parameters", dummyHash)
	}
	for _, pw := range []string{"", "password1234", strings.Repeat("\xa5", 32)} {
		if CheckPassword(dummyHash, pw) {
			t.Errorf("the dummy hash accepts %q", pw)
		}
	}
	// It does the work of a real failed check: one key derivation with the
	// same parameters. Counted, not timed: a timing bound flakes on a
	// loaded machine, and the work is what makes the two cost the same.
	type derivation struct{ time, memory uint32 }
	var calls []derivation
	orig := argonIDKey
	argonIDKey = func(pw, salt []byte, tm, mem uint32, threads uint8, n uint32) []byte {
		calls = append(calls, derivation{tm, mem})
		return orig(pw, salt, tm, mem, threads, n)
	}
	defer func() { argonIDKey = orig }()
	real := mustHash(t, "the real password")
	calls = nil
	CheckPassword(real, "a wrong password")
	check := calls
	calls = nil
	CheckPasswordAgainstNothing("a wrong password")
	if len(calls) != 1 || len(check) != 1 || calls[0] != check[0] {
		t.Errorf("CheckPasswordAgainstNothing derived %v, a real failed check %v; want the same one derivation", calls, check)
	}
}

func TestValidatePassword(t *testing.T) {
	for _, pw := range []string{
		"abcdefghij", // 10 characters
		"ççççççççç1", // 10 characters, 19 bytes
		"🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑",                          // 10 characters, 40 bytes
		strings.Repeat("a", MaxPasswordBytes), // 256 bytes
		"correct horse battery staple",
	} {
		if err := ValidatePassword(pw); err != nil {
			t.Errorf("ValidatePassword(%q) = %v, want nil", pw, err)
		}
	}
	for _, tt := range []struct {
		pw, msg string
	}{
		{"", "at least 10 characters"},
		{"abcdefghi", "at least 10 characters"},
		{"ççççççççç", "at least 10 characters"}, // 18 bytes but 9 characters
		{strings.Repeat("a", MaxPasswordBytes+1), "at most 256 bytes"},
		{strings.Repeat("ç", 129), "at most 256 bytes"}, // 129 characters, 258 bytes
	} {
		err := ValidatePassword(tt.pw)
		var e *impl.Error
		if !errors.As(err, &e) || e.Code != impl.EValidation {
			t.Errorf("ValidatePassword(%d bytes) = %v, want a %s error", len(tt.pw), err, impl.EValidation)
			continue
		}
		if !strings.Contains(e.Message, tt.msg) || len(e.Details["password"]) != 1 || !strings.Contains(e.Details["password"][0], tt.msg) {
			t.Errorf("ValidatePassword(%d bytes) = %q, details %v; want them to say %q", len(tt.pw), e.Message, e.Details, tt.msg)
		}
	}
}

func TestNewPassword(t *testing.T) {
	if strings.ContainsAny(passwordAlphabet, "0O1lI") {
		t.Fatalf("the alphabet has look-alike characters: %s", passwordAlphabet)
	}
	seen := map[string]bool{}
	used := map[rune]bool{}
	for range 200 {
		pw, err := NewPassword()
		if err != nil {
			t.Fatal(err)
		}
		if utf8.RuneCountInString(pw) != 20 || len(pw) != 20 {
			t.Fatalf("NewPassword() = %q, want 20 characters", pw)
		}
		for _, r := range pw {
			if !strings.ContainsRune(passwordAlphabet, r) {
				t.Fatalf("NewPassword() = %q has %q, outside the alphabet", pw, r)
			}
			used[r] = true
		}
		if err := ValidatePassword(pw); err != nil {
			t.Errorf("NewPassword() = %q breaks the policy: %v", pw, err)
		}
		if seen[pw] {
			t.Fatalf("NewPassword() repeated %q", pw)
		}
		seen[pw] = true
	}
	// 4000 draws from 57 characters: every one shows up (each is missed
	// with probability about 57 * e^-70).
	if len(used) != len(passwordAlphabet) {
		t.Errorf("only %d of the %d characters were used", len(used), len(passwordAlphabet))
	}
}
