package sqlstore

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// storedTime scans a timestamp column into t.
//
// dialect: lib/pq hands a timestamptz over as a time.Time. SQLite stores a
// DATETIME as text, and modernc's driver, seeing that declared type, tries
// its layouts in turn for every value, starting with time.Time.String's,
// which never matches what the stores write: two full parses a column, 3 %
// of the CPU of a server answering GET /leads/{id}, and forty columns for a
// page of twenty leads. The lead statements therefore select SQLite's
// timestamps as expressions (see leadSQL), which have no declared type, so
// the driver hands over the text and parseStoredTime reads it once.
type storedTime struct{ t *time.Time }

// Scan implements sql.Scanner.
func (s storedTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*s.t = v
		return nil
	case string:
		t, err := parseStoredTime(v)
		*s.t = t
		return err
	case []byte:
		t, err := parseStoredTime(string(v))
		*s.t = t
		return err
	default:
		return fmt.Errorf("sqlstore: cannot read a %T as a time", src)
	}
}

// storedNullTime is storedTime for a nullable column: NULL is a nil *t.
type storedNullTime struct{ t **time.Time }

// Scan implements sql.Scanner.
func (s storedNullTime) Scan(src any) error {
	if src == nil {
		*s.t = nil
		return nil
	}
	var t time.Time
	if err := (storedTime{&t}).Scan(src); err != nil {
		return err
	}
	*s.t = &t
	return nil
}

// selectList is columns (comma-separated) as a statement of dialect d
// selects them, each prefixed with prefix. dialect: on SQLite the
// timestamps among them, named in times, are selected as expressions,
// which have no declared type, for storedTime to read their text; a unary
// + returns its operand unchanged.
func selectList(d Dialect, columns, prefix string, times ...string) string {
	terms := strings.Split(columns, ",")
	for i, c := range terms {
		c = strings.TrimSpace(c)
		terms[i] = prefix + c
		if d == SQLite && slices.Contains(times, c) {
			// Named as the column, without its table's qualifier.
			terms[i] = "+" + prefix + c + " AS " + c[strings.LastIndexByte(c, '.')+1:]
		}
	}
	return strings.Join(terms, ", ")
}

// storedTimeLayouts are the text forms a time may have in SQLite besides
// RFC 3339 with a space for the T, which the stores write
// (_time_format=sqlite): those of SQLite's own date functions and of ISO
// 8601 without a zone, read as UTC, and time.Time.String's, the driver's
// default, for a database written with other settings.
var storedTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
	"2006-01-02 15:04:05.999999999 -0700 MST",
}

// parseStoredTime reads a time as SQLite stores it. What the stores write
// takes time.Parse's RFC 3339 path, which reads it without a layout.
func parseStoredTime(s string) (time.Time, error) {
	text := s
	if len(s) > 10 && s[10] == ' ' {
		text = s[:10] + "T" + s[11:]
	}
	if t, err := time.Parse(time.RFC3339Nano, text); err == nil {
		return t, nil
	}
	if i := strings.Index(s, " m="); i > 0 {
		s = s[:i] // a monotonic clock reading, which String appends
	}
	for _, layout := range storedTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("sqlstore: %q is not a time", s)
}
