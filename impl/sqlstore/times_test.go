package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

func TestParseStoredTime(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		text string
		want time.Time
	}{
		// What the stores write (_time_format=sqlite).
		{"2026-12-03 00:50:41.123456+00:00", at("2026-12-03T00:50:41.123456Z")},
		{"2026-12-03 00:50:41+00:00", at("2026-12-03T00:50:41Z")},
		{"2026-12-02 21:50:41.5-03:00", at("2026-12-03T00:50:41.5Z")},
		// RFC 3339 as such.
		{"2026-12-03T00:50:41.123Z", at("2026-12-03T00:50:41.123Z")},
		// SQLite's date functions, and ISO 8601 without a zone: UTC.
		{"2026-12-03 00:50:41", at("2026-12-03T00:50:41Z")},
		{"2026-12-03 00:50:41.250", at("2026-12-03T00:50:41.25Z")},
		{"2026-12-03T00:50:41", at("2026-12-03T00:50:41Z")},
		{"2026-12-03 00:50", at("2026-12-03T00:50:00Z")},
		{"2026-12-03", at("2026-12-03T00:00:00Z")},
		// time.Time.String, with and without its monotonic reading.
		{"2026-12-03 00:50:41.5 +0000 UTC", at("2026-12-03T00:50:41.5Z")},
		{"2026-12-03 00:50:41.5 +0000 UTC m=+0.000012", at("2026-12-03T00:50:41.5Z")},
	} {
		got, err := parseStoredTime(c.text)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseStoredTime(%q) = %v, %v; want %v", c.text, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01 00:00:00+00:00", "2026-12-03 25:00:00", "2026-12-03 00:50:41+00:00 trailing"} {
		if got, err := parseStoredTime(bad); err == nil {
			t.Errorf("parseStoredTime(%q) = %v, want an error", bad, got)
		}
	}
	var v time.Time
	if err := (storedTime{&v}).Scan(int64(1)); err == nil {
		t.Error("storedTime scanned an integer")
	}
}

// Leads whose times were written by SQL, not by the stores, read back with
// those times through every read of a lead, on both databases.
func TestLeadTimesWrittenBySQL(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		// dialect: each database's own way of writing a time.
		stamps := map[Dialect][]string{
			SQLite: {`'2026-12-03 00:50:41'`, `'2026-12-03T00:50:41.5Z'`, `datetime('2026-12-03 00:50:41')`},
			Postgres: {`'2026-12-03 00:50:41+00'`, `'2026-12-02 21:50:41.5-03:00'`,
				`TIMESTAMPTZ '2026-12-03 00:50:41 UTC'`},
		}[f.db.dialect]
		want := []time.Time{
			time.Date(2026, 12, 3, 0, 50, 41, 0, time.UTC),
			time.Date(2026, 12, 3, 0, 50, 41, 500e6, time.UTC),
			time.Date(2026, 12, 3, 0, 50, 41, 0, time.UTC),
		}
		ids := make([]int64, len(stamps))
		for i, stamp := range stamps {
			err := f.db.pool.QueryRowxContext(ctx, f.db.rebind(`INSERT INTO leads
				(organization_id, phone, temperature, lead_score, created_at, updated_at)
				VALUES (?, ?, 'cold', 0, `+stamp+`, `+stamp+`) RETURNING id`), f.org, "551190000000"+string(rune('0'+i))).Scan(&ids[i])
			if err != nil {
				t.Fatal(err)
			}
		}
		for i, id := range ids {
			got := f.mustFind(t, f.org, id)
			if !got.CreatedAt.Equal(want[i]) || !got.UpdatedAt.Equal(want[i]) || got.CreatedAt.Location() != time.UTC {
				t.Errorf("%s: FindLeadByID read %v / %v, want %v in UTC", stamps[i], got.CreatedAt, got.UpdatedAt, want[i])
			}
		}
		// Both ways of reading a page: by the phone (one lead) and by the
		// order's index.
		for _, filter := range []impl.LeadFilter{{Limit: 10}, {Limit: 10, Phone: ptr("5511900000001")}} {
			leads, _, err := f.findLeads(ctx, f.org, filter)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range leads {
				i := int(l.Phone[len(l.Phone)-1] - '0')
				if !l.CreatedAt.Equal(want[i]) || !l.UpdatedAt.Equal(want[i]) || l.CreatedAt.Location() != time.UTC {
					t.Errorf("%+v: FindLeads read %v / %v, want %v in UTC", filter, l.CreatedAt, l.UpdatedAt, want[i])
				}
			}
			if len(leads) == 0 {
				t.Errorf("%+v: no leads", filter)
			}
		}
		// What the optimisation rests on: SQLite hands the timestamps
		// selected as expressions over as text, not parsed.
		if f.db.dialect == SQLite {
			var created any
			if err := f.db.pool.QueryRowxContext(ctx, `SELECT `+leadSelects[SQLite].cols+` FROM leads WHERE id = ?`, ids[0]).
				Scan(new(any), new(any), new(any), new(any), new(any), new(any), new(any), new(any), new(any), &created, new(any)); err != nil {
				t.Fatal(err)
			}
			if _, ok := created.(string); !ok {
				t.Errorf("SQLite handed created_at over as a %T, want the text", created)
			}
		}
	})
}
