package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

var brt = time.FixedZone("BRT", -3*60*60)

func (f *fixture) mustCreateUser(t *testing.T, org int64, email string) *impl.User {
	t.Helper()
	u := &impl.User{OrganizationID: org, Email: email, Name: "User " + email, PasswordHash: "$argon2id$hash-of-" + email}
	if err := f.s.Users.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func (f *fixture) mustCreateSession(t *testing.T, u *impl.User, token string, expires time.Time) *impl.Session {
	t.Helper()
	now := f.clock.now()
	s := &impl.Session{
		TokenHash: tokenHash(token), UserID: u.ID, OrganizationID: u.OrganizationID,
		CSRFToken: "csrf-" + token, CreatedAt: now, LastSeenAt: now, ExpiresAt: expires,
	}
	if err := f.s.Sessions.CreateSession(context.Background(), s); err != nil {
		t.Fatalf("CreateSession(%s): %v", token, err)
	}
	return s
}

func userString(u *impl.User) string {
	last := "<nil>"
	if u.LastLoginAt != nil {
		last = u.LastLoginAt.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("{id:%d org:%d email:%q name:%q hash:%q created:%s last_login:%s}",
		u.ID, u.OrganizationID, u.Email, u.Name, u.PasswordHash, u.CreatedAt.UTC().Format(time.RFC3339Nano), last)
}

func sessionString(s *impl.Session) string {
	return fmt.Sprintf("{id:%d token:%x user:%d org:%d csrf:%q created:%s seen:%s expires:%s}",
		s.ID, s.TokenHash, s.UserID, s.OrganizationID, s.CSRFToken,
		s.CreatedAt.UTC().Format(time.RFC3339Nano), s.LastSeenAt.UTC().Format(time.RFC3339Nano),
		s.ExpiresAt.UTC().Format(time.RFC3339Nano))
}

func userEmails(users []*impl.User) string {
	var emails []string
	for _, u := range users {
		emails = append(emails, u.Email)
	}
	return strings.Join(emails, ",")
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		stamp := t0.Truncate(time.Microsecond)
		ana := f.mustCreateUser(t, f.org, "  Ana.Silva@Example.COM ")
		if ana.ID == 0 || ana.Email != "ana.silva@example.com" || !ana.CreatedAt.Equal(stamp) || ana.LastLoginAt != nil {
			t.Errorf("CreateUser filled in %s", userString(ana))
		}
		f.clock.advance(time.Second)
		bob := f.mustCreateUser(t, f.org, "bob@example.com")
		theirs := f.mustCreateUser(t, f.other, "carla@other.example")

		t.Run("find by e-mail, in any case", func(t *testing.T) {
			for _, email := range []string{"ana.silva@example.com", "ANA.SILVA@EXAMPLE.COM", " Ana.Silva@example.com\t"} {
				got, err := f.s.Users.FindUserByEmail(ctx, email)
				if err != nil {
					t.Fatalf("FindUserByEmail(%q): %v", email, err)
				}
				if userString(got) != userString(ana) || got.CreatedAt.Location() != time.UTC {
					t.Errorf("FindUserByEmail(%q) = %s, want %s in UTC", email, userString(got), userString(ana))
				}
			}
			_, err := f.s.Users.FindUserByEmail(ctx, "nobody@example.com")
			wantCode(t, err, impl.ENotFound)
			_, err = f.s.Users.FindUserByEmail(ctx, "")
			wantCode(t, err, impl.ENotFound)
		})

		t.Run("e-mail is unique across organizations", func(t *testing.T) {
			for _, u := range []*impl.User{
				{OrganizationID: f.org, Email: "ana.silva@example.com", Name: "again", PasswordHash: "x"},
				{OrganizationID: f.other, Email: "ANA.SILVA@example.com", Name: "elsewhere", PasswordHash: "x"},
			} {
				err := f.s.Users.CreateUser(ctx, u)
				wantCode(t, err, impl.EConflict)
				if !strings.Contains(err.Error(), "ana.silva@example.com") {
					t.Errorf("conflict message %q does not name the e-mail", err)
				}
			}
			if users, _ := f.s.Users.ListUsers(ctx, f.other); userEmails(users) != "carla@other.example" {
				t.Errorf("a duplicate was stored: %s", userEmails(users))
			}
		})

		t.Run("missing organization", func(t *testing.T) {
			err := f.s.Users.CreateUser(ctx, &impl.User{OrganizationID: f.other + 1000, Email: "ghost@example.com", Name: "g", PasswordHash: "x"})
			wantCode(t, err, impl.ENotFound)
			_, err = f.s.Users.FindUserByEmail(ctx, "ghost@example.com")
			wantCode(t, err, impl.ENotFound)
		})

		t.Run("list is scoped and oldest first", func(t *testing.T) {
			users, err := f.s.Users.ListUsers(ctx, f.org)
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != 2 || userString(users[0]) != userString(ana) || userString(users[1]) != userString(bob) {
				t.Fatalf("ListUsers = %s, want ana, bob", userEmails(users))
			}
			for _, u := range users {
				if u.CreatedAt.Location() != time.UTC {
					t.Errorf("created_at %v not in UTC", u.CreatedAt)
				}
			}
			users, err = f.s.Users.ListUsers(ctx, f.other)
			if err != nil || len(users) != 1 || userString(users[0]) != userString(theirs) {
				t.Errorf("other organization's users: %s, %v", userEmails(users), err)
			}
			users, err = f.s.Users.ListUsers(ctx, f.other+1000)
			if err != nil || len(users) != 0 {
				t.Errorf("users of a missing organization: %s, %v", userEmails(users), err)
			}
		})

		t.Run("record login", func(t *testing.T) {
			at := t0.Add(time.Hour).Add(789 * time.Nanosecond).In(brt)
			if err := f.s.Users.RecordLogin(ctx, bob.ID, at); err != nil {
				t.Fatal(err)
			}
			got, err := f.s.Users.FindUserByEmail(ctx, bob.Email)
			if err != nil {
				t.Fatal(err)
			}
			want := at.Truncate(time.Microsecond)
			if got.LastLoginAt == nil || !got.LastLoginAt.Equal(want) || got.LastLoginAt.Location() != time.UTC {
				t.Errorf("last_login_at = %v, want %v in UTC", got.LastLoginAt, want.UTC())
			}
			if got, _ := f.s.Users.FindUserByEmail(ctx, ana.Email); got.LastLoginAt != nil {
				t.Errorf("another user's last_login_at was set: %v", got.LastLoginAt)
			}
			wantCode(t, f.s.Users.RecordLogin(ctx, theirs.ID+1000, at), impl.ENotFound)
		})

		t.Run("set password ends the user's sessions", func(t *testing.T) {
			expires := t0.Add(24 * time.Hour)
			a1 := f.mustCreateSession(t, ana, "ana-laptop", expires)
			a2 := f.mustCreateSession(t, ana, "ana-phone", expires)
			b1 := f.mustCreateSession(t, bob, "bob-laptop", expires)
			if err := f.s.Users.SetUserPassword(ctx, ana.ID, "$argon2id$new"); err != nil {
				t.Fatal(err)
			}
			got, err := f.s.Users.FindUserByEmail(ctx, ana.Email)
			if err != nil || got.PasswordHash != "$argon2id$new" {
				t.Fatalf("after SetUserPassword: %v, %v", got, err)
			}
			for _, s := range []*impl.Session{a1, a2} {
				_, _, err := f.s.Sessions.FindSession(ctx, s.TokenHash)
				wantCode(t, err, impl.ENotFound)
			}
			if s, u, err := f.s.Sessions.FindSession(ctx, b1.TokenHash); err != nil || s.ID != b1.ID || u.ID != bob.ID {
				t.Errorf("another user's session: %v, %v, %v", s, u, err)
			}
			if got, _ := f.s.Users.FindUserByEmail(ctx, bob.Email); got.PasswordHash != bob.PasswordHash {
				t.Errorf("another user's hash changed to %q", got.PasswordHash)
			}
			wantCode(t, f.s.Users.SetUserPassword(ctx, theirs.ID+1000, "x"), impl.ENotFound)
		})
	})
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		ana := f.mustCreateUser(t, f.org, "ana@example.com")
		carla := f.mustCreateUser(t, f.other, "carla@example.com")
		expires := t0.Add(12 * time.Hour)
		s := &impl.Session{
			TokenHash: tokenHash("tok-1"), UserID: ana.ID, OrganizationID: f.org, CSRFToken: "csrf-1",
			CreatedAt: t0.In(brt), LastSeenAt: t0.In(brt), ExpiresAt: expires.Add(999 * time.Nanosecond),
		}
		if err := f.s.Sessions.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		stamp := t0.Truncate(time.Microsecond)
		if s.ID == 0 || !s.CreatedAt.Equal(stamp) || s.CreatedAt.Location() != time.UTC || !s.ExpiresAt.Equal(expires.Add(999*time.Nanosecond).Truncate(time.Microsecond)) {
			t.Errorf("CreateSession left %s", sessionString(s))
		}

		t.Run("find", func(t *testing.T) {
			got, u, err := f.s.Sessions.FindSession(ctx, tokenHash("tok-1"))
			if err != nil {
				t.Fatal(err)
			}
			if sessionString(got) != sessionString(s) {
				t.Errorf("FindSession = %s, want %s", sessionString(got), sessionString(s))
			}
			if !bytes.Equal(got.TokenHash, tokenHash("tok-1")) {
				t.Errorf("token hash read back as %x", got.TokenHash)
			}
			for name, tm := range map[string]time.Time{"created_at": got.CreatedAt, "last_seen_at": got.LastSeenAt, "expires_at": got.ExpiresAt, "user created_at": u.CreatedAt} {
				if tm.Location() != time.UTC {
					t.Errorf("%s = %v, want UTC", name, tm)
				}
			}
			if userString(u) != userString(ana) {
				t.Errorf("FindSession user = %s, want %s", userString(u), userString(ana))
			}
			_, _, err = f.s.Sessions.FindSession(ctx, tokenHash("tok-unknown"))
			wantCode(t, err, impl.ENotFound)
			_, _, err = f.s.Sessions.FindSession(ctx, nil)
			wantCode(t, err, impl.ENotFound)
		})

		t.Run("create refuses a user outside the organization", func(t *testing.T) {
			for _, bad := range []*impl.Session{
				{UserID: carla.ID, OrganizationID: f.org},        // a user of another organization
				{UserID: carla.ID + 1000, OrganizationID: f.org}, // no such user
				{UserID: ana.ID, OrganizationID: f.other + 1000}, // no such organization
			} {
				bad.TokenHash, bad.CSRFToken = tokenHash("bad"), "c"
				bad.CreatedAt, bad.LastSeenAt, bad.ExpiresAt = t0, t0, expires
				wantCode(t, f.s.Sessions.CreateSession(ctx, bad), impl.ENotFound)
			}
			_, _, err := f.s.Sessions.FindSession(ctx, tokenHash("bad"))
			wantCode(t, err, impl.ENotFound)
		})

		t.Run("token hashes are unique", func(t *testing.T) {
			dup := &impl.Session{TokenHash: tokenHash("tok-1"), UserID: carla.ID, OrganizationID: f.other, CSRFToken: "c",
				CreatedAt: t0, LastSeenAt: t0, ExpiresAt: expires}
			wantCode(t, f.s.Sessions.CreateSession(ctx, dup), impl.EConflict)
			if _, u, err := f.s.Sessions.FindSession(ctx, tokenHash("tok-1")); err != nil || u.ID != ana.ID {
				t.Errorf("after a duplicate the session belongs to %v, %v", u, err)
			}
		})

		t.Run("touch", func(t *testing.T) {
			other := f.mustCreateSession(t, carla, "tok-carla", expires)
			seen := t0.Add(10 * time.Minute).Add(500 * time.Nanosecond).In(brt)
			if err := f.s.Sessions.TouchSession(ctx, s.ID, seen); err != nil {
				t.Fatal(err)
			}
			want := seen.Truncate(time.Microsecond)
			lastSeen := func(token string) time.Time {
				t.Helper()
				got, _, err := f.s.Sessions.FindSession(ctx, tokenHash(token))
				if err != nil {
					t.Fatal(err)
				}
				return got.LastSeenAt
			}
			if got := lastSeen("tok-1"); !got.Equal(want) {
				t.Fatalf("last_seen_at = %v, want %v", got, want)
			}
			// An older touch, from a request that finished late, is ignored.
			if err := f.s.Sessions.TouchSession(ctx, s.ID, seen.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			if got := lastSeen("tok-1"); !got.Equal(want) {
				t.Errorf("after an older touch last_seen_at = %v, want %v", got, want)
			}
			if got := lastSeen("tok-carla"); !got.Equal(other.LastSeenAt) {
				t.Errorf("another session was touched: %v", got)
			}
			if err := f.s.Sessions.TouchSession(ctx, other.ID+1000, seen); err != nil {
				t.Errorf("touch of a missing session: %v", err)
			}
		})

		t.Run("delete", func(t *testing.T) {
			f.mustCreateSession(t, ana, "tok-2", expires)
			if err := f.s.Sessions.DeleteSession(ctx, tokenHash("tok-2")); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.s.Sessions.FindSession(ctx, tokenHash("tok-2"))
			wantCode(t, err, impl.ENotFound)
			if err := f.s.Sessions.DeleteSession(ctx, tokenHash("tok-2")); err != nil {
				t.Errorf("deleting a deleted session: %v", err)
			}
			if _, _, err := f.s.Sessions.FindSession(ctx, tokenHash("tok-1")); err != nil {
				t.Errorf("a sibling session went too: %v", err)
			}
		})

		t.Run("delete expired", func(t *testing.T) {
			f.mustCreateSession(t, ana, "tok-old", t0.Add(time.Hour))
			f.mustCreateSession(t, carla, "tok-old-carla", t0.Add(2*time.Hour))
			f.mustCreateSession(t, ana, "tok-edge", t0.Add(3*time.Hour))
			// FindSession does not judge expiry: an expired session is found
			// until it is deleted.
			if _, _, err := f.s.Sessions.FindSession(ctx, tokenHash("tok-old")); err != nil {
				t.Fatalf("an expired session is not found: %v", err)
			}
			n, err := f.s.Sessions.DeleteExpiredSessions(ctx, t0.Add(3*time.Hour).In(brt))
			if err != nil || n != 2 {
				t.Fatalf("DeleteExpiredSessions = %d, %v; want 2", n, err)
			}
			for token, want := range map[string]string{"tok-old": impl.ENotFound, "tok-old-carla": impl.ENotFound, "tok-edge": "", "tok-1": "", "tok-carla": ""} {
				_, _, err := f.s.Sessions.FindSession(ctx, tokenHash(token))
				if got := impl.ErrorCode(err); got != want {
					t.Errorf("%s after DeleteExpiredSessions: %v, want code %q", token, err, want)
				}
			}
			if n, err := f.s.Sessions.DeleteExpiredSessions(ctx, t0.Add(3*time.Hour)); err != nil || n != 0 {
				t.Errorf("second DeleteExpiredSessions = %d, %v; want 0", n, err)
			}
		})
	})
}

func TestLoginThrottle(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		count := func(key string, since time.Time) (int, time.Time) {
			t.Helper()
			n, oldest, err := f.s.LoginFailures.CountLoginFailures(ctx, key, since)
			if err != nil {
				t.Fatalf("CountLoginFailures(%q): %v", key, err)
			}
			if !oldest.IsZero() && oldest.Location() != time.UTC {
				t.Errorf("oldest failure %v not in UTC", oldest)
			}
			return n, oldest
		}
		record := func(at time.Time, keys ...string) {
			t.Helper()
			if err := f.s.LoginFailures.RecordLoginFailure(ctx, keys, at); err != nil {
				t.Fatalf("RecordLoginFailure(%v): %v", keys, err)
			}
		}
		want := func(key string, since time.Time, wantN int, wantOldest time.Time) {
			t.Helper()
			n, oldest := count(key, since)
			if n != wantN || !oldest.Equal(wantOldest) {
				t.Errorf("CountLoginFailures(%q, %v) = %d, %v; want %d, %v", key, since, n, oldest, wantN, wantOldest)
			}
		}
		stamp := t0.Truncate(time.Microsecond)
		none := time.Time{}

		want("ana@example.com", none, 0, none)
		record(t0, "ana@example.com", "ip:203.0.113.7")
		record(t0.Add(time.Minute).In(brt), "ana@example.com")
		record(t0.Add(2*time.Minute), "bob@example.com", "bob@example.com", "ip:203.0.113.7")

		t.Run("window", func(t *testing.T) {
			want("ana@example.com", t0.Add(-time.Hour), 2, stamp)
			want("ana@example.com", none, 2, stamp)
			want("ana@example.com", stamp, 2, stamp) // the start of the window is in it
			want("ana@example.com", stamp.Add(time.Microsecond), 1, stamp.Add(time.Minute))
			want("ana@example.com", t0.Add(30*time.Second).In(brt), 1, stamp.Add(time.Minute))
			want("ana@example.com", t0.Add(time.Hour), 0, none)
		})

		t.Run("keys are counted apart", func(t *testing.T) {
			want("ip:203.0.113.7", none, 2, stamp)
			want("bob@example.com", none, 1, stamp.Add(2*time.Minute)) // a key repeated in one call counts once
			want("carla@example.com", none, 0, none)
			want("ANA@example.com", none, 0, none) // keys are compared as given
		})

		t.Run("whole seconds", func(t *testing.T) {
			// A time without a fraction is stored without one; the window's
			// edges must still compare as times, not as text.
			sec := time.Date(2026, 3, 13, 15, 0, 5, 0, time.UTC)
			record(sec, "sec")
			want("sec", sec, 1, sec)
			want("sec", sec.Add(-time.Microsecond), 1, sec)
			want("sec", sec.Add(time.Microsecond), 0, none)
			want("sec", sec.Add(-time.Second), 1, sec)
			want("sec", sec.Add(time.Second), 0, none)
		})

		t.Run("clear", func(t *testing.T) {
			if err := f.s.LoginFailures.ClearLoginFailures(ctx, []string{"bob@example.com", "ip:203.0.113.7", "nobody"}); err != nil {
				t.Fatal(err)
			}
			want("bob@example.com", none, 0, none)
			want("ip:203.0.113.7", none, 0, none)
			want("ana@example.com", none, 2, stamp)
			if err := f.s.LoginFailures.ClearLoginFailures(ctx, nil); err != nil {
				t.Errorf("clearing no keys: %v", err)
			}
			if err := f.s.LoginFailures.RecordLoginFailure(ctx, nil, t0); err != nil {
				t.Errorf("recording no keys: %v", err)
			}
			want("ana@example.com", none, 2, stamp)
		})

		t.Run("failures older than a day are forgotten", func(t *testing.T) {
			// ana failed at t0 and t0+1m; a failure of anyone a day and a
			// minute after t0 sweeps the first away and keeps the second,
			// which is exactly a day old.
			later := stamp.Add(time.Minute + 24*time.Hour)
			record(later, "dan@example.com")
			want("ana@example.com", none, 1, stamp.Add(time.Minute))
			want("sec", none, 1, time.Date(2026, 3, 13, 15, 0, 5, 0, time.UTC))
			want("dan@example.com", none, 1, later)
			record(later.Add(time.Microsecond), "dan@example.com")
			want("ana@example.com", none, 0, none)
			want("dan@example.com", none, 2, later)
		})

		t.Run("concurrent failures all count", func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 10)
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- f.s.LoginFailures.RecordLoginFailure(ctx, []string{"eve@example.com", "ip:198.51.100.1"},
						t0.Add(25*time.Hour+time.Duration(i)*time.Second))
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			want("eve@example.com", none, 10, stamp.Add(25*time.Hour))
			want("ip:198.51.100.1", t0.Add(25*time.Hour+5*time.Second), 5, stamp.Add(25*time.Hour+5*time.Second))
		})
	})
}

// Every time the user, session and throttle methods return is in UTC,
// whatever the database session's time zone.
func TestUserTimesAreUTCInAnySessionTimeZone(t *testing.T) {
	pg, ok := sqlstoretest.Postgres(t)
	if !ok {
		t.Skip("no PostgreSQL")
	}
	ctx := context.Background()
	sep := "?"
	if strings.Contains(pg.URL, "?") {
		sep = "&"
	}
	f := newFixture(t, pg.URL+sep+"timezone=America%2FSao_Paulo")
	u := f.mustCreateUser(t, f.org, "tz@example.com")
	if err := f.s.Users.RecordLogin(ctx, u.ID, t0); err != nil {
		t.Fatal(err)
	}
	f.mustCreateSession(t, u, "tz", t0.Add(time.Hour))
	if err := f.s.LoginFailures.RecordLoginFailure(ctx, []string{"tz"}, t0); err != nil {
		t.Fatal(err)
	}
	found, err := f.s.Users.FindUserByEmail(ctx, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := f.s.Users.ListUsers(ctx, f.org)
	if err != nil || len(listed) != 1 {
		t.Fatalf("ListUsers: %d users, %v", len(listed), err)
	}
	s, su, err := f.s.Sessions.FindSession(ctx, tokenHash("tz"))
	if err != nil {
		t.Fatal(err)
	}
	_, oldest, err := f.s.LoginFailures.CountLoginFailures(ctx, "tz", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	times := map[string]time.Time{
		"FindUserByEmail created_at": found.CreatedAt, "FindUserByEmail last_login_at": *found.LastLoginAt,
		"ListUsers created_at": listed[0].CreatedAt, "ListUsers last_login_at": *listed[0].LastLoginAt,
		"FindSession created_at": s.CreatedAt, "FindSession last_seen_at": s.LastSeenAt, "FindSession expires_at": s.ExpiresAt,
		"FindSession user created_at": su.CreatedAt, "FindSession user last_login_at": *su.LastLoginAt,
		"CountLoginFailures oldest": oldest,
	}
	for what, tm := range times {
		if tm.Location() != time.UTC {
			t.Errorf("%s = %v, want UTC", what, tm)
		}
	}
	if !oldest.Equal(t0.Truncate(time.Microsecond)) {
		t.Errorf("oldest failure = %v, want %v", oldest, t0)
	}
}
