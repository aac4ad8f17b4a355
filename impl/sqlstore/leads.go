package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

// leadColumns are a lead's columns, in leadFields' order.
const leadColumns = `id, organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at`

// leadSQL is how a dialect's statements select leadColumns.
type leadSQL struct {
	cols     string // leadColumns, to select
	colsOfL  string // the same, of the table as l
	findByID string // FindLeadByID's statement
}

// leadSelects holds each dialect's leadSQL. dialect: SQLite selects the
// timestamps as expressions, which have no declared type, for storedTime
// to read their text; a unary + returns its operand unchanged.
var leadSelects = map[Dialect]leadSQL{Postgres: newLeadSQL(Postgres), SQLite: newLeadSQL(SQLite)}

func newLeadSQL(d Dialect) leadSQL {
	list := func(prefix string) string { return selectList(d, leadColumns, prefix, "created_at", "updated_at") }
	cols := list("")
	return leadSQL{cols: cols, colsOfL: list("l."),
		findByID: `SELECT ` + cols + ` FROM leads WHERE organization_id = ? AND id = ?`}
}

func (s *LeadStore) sql() leadSQL { return leadSelects[s.db.dialect] }

// CreateLead implements impl.LeadStore. A lead created under an
// Idempotency-Key (impl.IdempotencyKey of ctx) keeps it, and a retry that
// finds the phone taken by a lead its key created within
// impl.IdempotencyTTL gets impl.ErrDoneEarlier instead of the conflict, with
// lead filled in as that lead is now.
func (s *LeadStore) CreateLead(ctx context.Context, orgID int64, lead *impl.Lead) error {
	lead.Normalize()
	lead.OrganizationID = orgID
	lead.CreatedAt = s.db.timestamp()
	lead.UpdatedAt = lead.CreatedAt
	key := impl.IdempotencyKey(ctx)
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		err := insertLead(ctx, s.db, tx, lead, key)
		if isUniqueViolation(err) {
			return impl.ErrDuplicatePhone()
		}
		return err
	})
	if key == "" || impl.ErrorCode(err) != impl.EConflict {
		return err
	}
	// After the failed insert: on PostgreSQL its transaction is over.
	earlier, ferr := s.leadUnderKey(ctx, orgID, lead.Phone, key, lead.CreatedAt)
	switch {
	case ferr != nil:
		return ferr
	case earlier != nil:
		*lead = *earlier
		return impl.ErrDoneEarlier
	}
	return err
}

// leadUnderKey is the organization's lead with the phone if a request
// with the Idempotency-Key created it within impl.IdempotencyTTL of now,
// and nil otherwise.
func (s *LeadStore) leadUnderKey(ctx context.Context, orgID int64, phone, key string, now time.Time) (*impl.Lead, error) {
	var id int64
	err := s.db.getStmt(ctx, nil, &id, `SELECT id FROM leads WHERE organization_id = ? AND phone = ? AND idempotency_key = ?`,
		orgID, phone, key)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil // another key's, or none's, or deleted since
	case err != nil:
		return nil, fmt.Errorf("find lead by phone: %w", err)
	}
	lead, err := s.FindLeadByID(ctx, orgID, id)
	switch {
	case impl.ErrorCode(err) == impl.ENotFound:
		return nil, nil
	case err != nil:
		return nil, err
	case now.Sub(lead.CreatedAt) > impl.IdempotencyTTL:
		return nil, nil
	}
	return lead, nil
}

// insertLead stores a new lead (normalised, with its timestamps) and the
// events of its creation, in tx; key is the Idempotency-Key of the request
// that creates it, if any. A duplicate phone is left as the driver's
// unique violation, for callers that retry on it.
func insertLead(ctx context.Context, db *DB, tx *sqlx.Tx, lead *impl.Lead, key string) error {
	// Without a key the column is left out, not written NULL: the statement
	// is the one every version before 00015 ran.
	cols, marks := ``, ``
	args := []any{lead.OrganizationID, lead.Phone, lead.Name, lead.Email, lead.CompanyName, lead.Temperature, lead.LeadScore,
		lead.DealValue, lead.CreatedAt, lead.UpdatedAt}
	if key != "" {
		cols, marks, args = `, idempotency_key`, `, ?`, append(args, key)
	}
	st, err := db.stmtIn(ctx, tx, `INSERT INTO leads
		(organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at`+cols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?`+marks+`) RETURNING id`)
	if err != nil {
		return fmt.Errorf("create lead: %w", err)
	}
	err = st.QueryRowxContext(ctx, args...).Scan(&lead.ID)
	if err != nil {
		return fmt.Errorf("create lead: %w", err)
	}
	return appendLeadEvents(ctx, db, tx, nil, lead)
}

// FindLeadByID implements impl.LeadStore. On PostgreSQL, reads that
// arrive together go to the database together (pointReads).
func (s *LeadStore) FindLeadByID(ctx context.Context, orgID, id int64) (*impl.Lead, error) {
	if s.reads != nil {
		return s.reads.find(ctx, orgID, id)
	}
	return s.findOne(ctx, orgID, id)
}

// readLeads answers a batch of FindLeadByID's reads (pointReads).
func (s *LeadStore) readLeads(ctx context.Context, reads []*pointRead[impl.Lead]) {
	if len(reads) == 1 {
		reads[0].got, reads[0].err = s.findOne(ctx, reads[0].org, reads[0].id)
		return
	}
	readPairs(ctx, s.db, reads, `SELECT `+s.sql().colsOfL+` FROM leads l
		JOIN unnest(?::bigint[], ?::bigint[]) AS k(org, id) ON l.organization_id = k.org AND l.id = k.id`,
		leadFields, func(l *impl.Lead) [2]int64 { return [2]int64{l.OrganizationID, l.ID} },
		func(l *impl.Lead) *impl.Lead { c := *l; utcLead(&c); return &c }, "Lead")
}

// findOne reads one lead with its own statement.
func (s *LeadStore) findOne(ctx context.Context, orgID, id int64) (*impl.Lead, error) {
	stmt, err := s.db.prepared(ctx, s.sql().findByID)
	if err != nil {
		return nil, err
	}
	if ctx, err = oneRow(ctx); err != nil {
		return nil, err
	}
	var lead impl.Lead
	if err := stmt.Stmt.QueryRowContext(ctx, orgID, id).Scan(leadFields(&lead)...); err != nil {
		return nil, notFound(err, "Lead")
	}
	utcLead(&lead)
	return &lead, nil
}

// leadFields are the destinations of leadColumns, in their order. Scanning
// into them skips sqlx's reflection (finding the fields by their tags for
// every row), 2 % of the CPU of a server answering GET /leads/{id}.
func leadFields(l *impl.Lead) []any {
	return []any{&l.ID, &l.OrganizationID, &l.Phone, &l.Name, &l.Email, &l.CompanyName, &l.Temperature,
		&l.LeadScore, &l.DealValue, storedTime{&l.CreatedAt}, storedTime{&l.UpdatedAt}}
}

func (s *LeadStore) findLead(ctx context.Context, tx *sqlx.Tx, orgID, id int64, suffix string) (*impl.Lead, error) {
	var lead impl.Lead
	st, err := s.db.stmtIn(ctx, tx, `SELECT `+s.sql().cols+` FROM leads WHERE organization_id = ? AND id = ?`+suffix)
	if err != nil {
		return nil, err
	}
	if err := st.QueryRowxContext(ctx, orgID, id).Scan(leadFields(&lead)...); err != nil {
		return nil, notFound(err, "Lead")
	}
	utcLead(&lead)
	return &lead, nil
}

// utcLead reports times in UTC whatever the session time zone of the database.
func utcLead(l *impl.Lead) {
	l.CreatedAt = l.CreatedAt.UTC()
	l.UpdatedAt = l.UpdatedAt.UTC()
}

// FindLeads implements impl.LeadStore.
//
// A page is read from an index in the page's order, whatever the size of
// the organization (migration 00008 has one per sort, alone and with the
// temperature or e-mail filter), and meta.total comes from the counters the
// database keeps (00009), so neither sorts nor counts the organization's
// leads. An e-mail's leads are counted (through an index that holds what
// the count needs); the phone filter matches at most one lead, found by its
// unique index. A deep numbered page that the server has seen begin, while
// the list has not changed since, is read from there (pageMarks).
func (s *LeadStore) FindLeads(ctx context.Context, orgID int64, f impl.LeadFilter) (*impl.LeadPage, error) {
	var key []byte
	if f.Cursor != "" {
		var err error
		if key, err = s.db.signingKey(ctx, leadCursorKey); err != nil {
			return nil, err
		}
	}
	q, err := f.Resolve(key, orgID)
	if err != nil {
		return nil, err
	}
	cond, args := s.leadConditions(orgID, q)
	counts, err := s.countLeads(ctx, orgID, q, cond, args, s.marks.markable(q, q.Offset+int64(q.Limit)))
	if err != nil {
		return nil, err
	}
	page := &impl.LeadPage{Leads: []*impl.Lead{}, Total: counts.Total, Offset: q.Start()}
	if q.Limit <= 0 || (q.After == nil && q.Offset >= counts.Total) {
		return page, nil
	}
	if s.marks.reading != nil {
		s.marks.reading()
	}
	// One lead more than the page says whether another page follows.
	leads, marks, seen, err := s.pageLeads(ctx, orgID, q, cond, args, counts)
	if err != nil {
		return nil, err
	}
	if seen {
		if end := q.Offset + int64(q.Limit); len(leads) > q.Limit && s.marks.markable(q, end) {
			marks = append(marks, markAt{end, keyOf(q.Sort, leads[q.Limit-1])})
		}
		for _, m := range marks {
			s.marks.leaveKey(orgID, q, m.offset, counts, m.before)
		}
	}
	if len(leads) > q.Limit {
		leads = leads[:q.Limit]
		if key == nil {
			if key, err = s.db.signingKey(ctx, leadCursorKey); err != nil {
				return nil, err
			}
		}
		page.Next = q.Next(key, orgID, leads[len(leads)-1], len(leads))
	}
	for _, l := range leads {
		utcLead(l)
	}
	page.Leads = leads
	return page, nil
}

// pageLeads reads q's page and the lead after it, if any: after the page's
// mark when the list has not changed since it was left, or only by leads
// arriving and by writes the mark followed (see pageMarks), or else from
// its offset, with the lead before it to leave a mark there (marks).
//
// seen reports whether the page's statements saw the list at counts'
// revision: then no write came between the count and the page, so a lead
// of the page is where the list had it at that revision, and a mark may
// hold it. Mending a mark relies on that: a lead read after a write would
// otherwise be moved again past arrivals it already follows.
func (s *LeadStore) pageLeads(ctx context.Context, orgID int64, q impl.LeadQuery, cond string, args []any, counts leadCounts) (leads []*impl.Lead, marks []markAt, seen bool, err error) {
	if !s.marks.markable(q, q.Offset) {
		// A page that ends past markFrom leaves a mark there.
		marking := s.marks.markable(q, q.Offset+int64(q.Limit))
		leads, seen, err = s.leadsInOrder(ctx, q, cond, args, counts, q.Limit+1, marking)
		return leads, nil, seen, err
	}
	after := q
	after.Seen = q.Offset
	m, marked := s.marks.at(orgID, q, q.Offset)
	if marked && m.holds(counts) {
		s.marks.hits.Add(1)
		after.After = &m.before
		leads, seen, err = s.leadsInOrder(ctx, after, cond, args, counts, q.Limit+1, true)
		return leads, nil, seen, err
	}
	var before impl.LeadKey
	var ok bool
	if marked {
		if before, ok, err = s.mendMark(ctx, q, cond, args, counts, m); err != nil {
			return nil, nil, false, err
		}
	}
	if ok {
		after.After = &before
		if leads, seen, err = s.leadsInOrder(ctx, after, cond, args, counts, q.Limit+1, true); err != nil {
			return nil, nil, false, err
		}
		if seen {
			s.marks.mends.Add(1)
			return leads, []markAt{{q.Offset, before}}, true, nil
		}
		// A write came while the mark was mended: the lead it found may be
		// off by that write, so the page is walked to instead.
	}
	s.marks.walks.Add(1)
	from := q
	from.Offset--
	if leads, seen, err = s.leadsInOrder(ctx, from, cond, args, counts, q.Limit+2, true); err != nil || len(leads) == 0 {
		return leads, nil, false, err
	}
	return leads[1:], []markAt{{q.Offset, keyOf(q.Sort, leads[0])}}, seen, nil
}

// markAt is a mark to leave: the lead just before offset.
type markAt struct {
	offset int64
	before impl.LeadKey
}

// leadConditions is the WHERE clause of q's filters and its arguments.
func (s *LeadStore) leadConditions(orgID int64, q impl.LeadQuery) (string, []any) {
	where, args := []string{"organization_id = ?"}, []any{orgID}
	if q.Phone != nil {
		where, args = append(where, "phone = ?"), append(args, *q.Phone)
	}
	if q.Email != nil {
		where, args = append(where, "email = ?"), append(args, *q.Email)
	}
	if q.Temperature != nil {
		where, args = append(where, "temperature = ?"), append(args, *q.Temperature)
	}
	return strings.Join(where, " AND "), args
}

// emailSortIndexes are the indexes of migration 00008 (and 00001) that read
// an e-mail's leads in each sort's order.
var emailSortIndexes = map[string]string{
	"id": "leads_org_email_id", "name": "leads_org_email_name", "created_at": "leads_org_email",
	"updated_at": "leads_org_email_updated", "lead_score": "leads_org_email_score", "deal_value": "leads_org_email_deal",
}

// oneLead reports whether q's filters pick at most one lead, by the unique
// index on phone, so that the lead is found first and sorted after.
func oneLead(q impl.LeadQuery) bool { return q.Phone != nil }

// leadCounts are the leads matching a filter, and how many of them have a
// name and a deal value.
type leadCounts struct {
	Total         int64 `db:"total"`
	WithName      int64 `db:"with_name"`
	WithDealValue int64 `db:"with_deal_value"`
	// Revision moves on every write that adds a lead to the counted
	// leads, takes one away, or changes the sort's field of one (00014;
	// see sortRevision); 0 when the leads were counted rather than read
	// from the counters.
	Revision int64 `db:"revision"`
	// ListRevision is the part of Revision that moves when a lead joins
	// or leaves the counted leads, and MaxID their largest id, read only
	// when the page may leave a mark (pageMarks); both 0 when not read.
	ListRevision int64 `db:"list_revision"`
	MaxID        int64 `db:"max_id"`
}

// withValue is how many of the counted leads have a value for sort's field.
func (c leadCounts) withValue(sort impl.LeadSort) int64 {
	switch sort.Field {
	case "name":
		return c.WithName
	case "deal_value":
		return c.WithDealValue
	}
	return c.Total
}

// countLeads counts q's leads; marking, it also reads what a mark keeps
// (leadCounts.MaxID).
func (s *LeadStore) countLeads(ctx context.Context, orgID int64, q impl.LeadQuery, cond string, args []any, marking bool) (leadCounts, error) {
	var c leadCounts
	query, args := s.countStatement(orgID, q, cond, args, marking)
	var err error
	if (q.Phone == nil && q.Email == nil) || s.db.dialect == SQLite {
		// The counters' lookup, which every list without those filters
		// makes: prepared once, its plan a primary-key read whatever the
		// arguments. dialect: SQLite's plans never depend on the
		// arguments (see readRun).
		err = s.db.get(ctx, &c, query, args...)
	} else {
		// A plan for these arguments: a generic plan for every e-mail is
		// the kind PostgreSQL's plan cache may settle on after five runs.
		err = s.db.pool.GetContext(ctx, &c, s.db.rebind(query), args...)
	}
	if err != nil {
		return leadCounts{}, fmt.Errorf("count leads: %w", err)
	}
	return c, nil
}

// countStatement is the statement that counts q's leads, and its arguments.
func (s *LeadStore) countStatement(orgID int64, q impl.LeadQuery, cond string, args []any, marking bool) (string, []any) {
	if q.Phone != nil || q.Email != nil {
		// Counted: a phone is one lead's, an e-mail usually a handful's.
		// Only what the page needs, so that one index holds it all.
		named, valued := "0", "0"
		switch q.Sort.Field {
		case "name":
			named = "COUNT(name)"
		case "deal_value":
			valued = "COUNT(deal_value)"
		}
		return `SELECT COUNT(*) AS total, ` + named + ` AS with_name, ` + valued + ` AS with_deal_value FROM leads WHERE ` + cond, args
	}
	where, cargs := "organization_id = ?", []any{orgID}
	if q.Temperature != nil {
		where, cargs = where+" AND temperature = ?", append(cargs, *q.Temperature)
	}
	marks := ""
	if marking {
		// What a mark keeps: the part of the revision that moves when a lead
		// joins or leaves the list, and the list's largest id, in the same
		// snapshot (the last entry of the (organization, [temperature,] id)
		// index). A page that leaves no mark does not read them: on
		// PostgreSQL each term is planned again with its arguments.
		marks = `, COALESCE(SUM(list_revision), 0) AS list_revision,
			(SELECT COALESCE(MAX(id), 0) FROM leads WHERE ` + where + `) AS max_id`
		cargs = append(slices.Clone(cargs), cargs...)
	}
	return `SELECT COALESCE(SUM(total), 0) AS total, COALESCE(SUM(with_name), 0) AS with_name,
		COALESCE(SUM(with_deal_value), 0) AS with_deal_value, COALESCE(SUM(` + sortRevision[q.Sort.Field] + `), 0) AS revision` + marks + `
		FROM lead_counts WHERE ` + where, cargs
}

// mendMark is the lead just before q's offset, from m, the mark there, if
// the only writes to the list since the mark were leads arriving and the
// writes m followed (pageMarks, followmarks.go): the place m holds, moved
// by those writes and by the arrivals that sort before it. The caller
// reads the page after it and leaves it as the mark at counts' revision
// only if the page's statement saw that revision: revisions only grow, so
// then no write came between the count and the page, and the reads in
// between saw one state.
func (s *LeadStore) mendMark(ctx context.Context, q impl.LeadQuery, cond string, args []any, counts leadCounts, m pageMark) (impl.LeadKey, bool, error) {
	d, ok := m.arrivals(counts, q.Offset)
	if !ok {
		return impl.LeadKey{}, false, nil
	}
	shift := m.shift
	if d > 0 {
		query, qargs := s.arrivalsStatement(q, cond, args, m, d)
		var a struct {
			Arrived int64 `db:"arrived"`
			Before  int64 `db:"before"`
		}
		if err := s.db.get(ctx, &a, query, qargs...); err != nil {
			return impl.LeadKey{}, false, fmt.Errorf("find leads: %w", err)
		}
		if a.Arrived != d {
			// Some of the writes were not arrivals: a lead left, changed
			// lists or came in with an older id.
			return impl.LeadKey{}, false, nil
		}
		shift -= a.Before
	}
	// The page begins shift leads after m's place: the shift-th lead after
	// it is the one before the page. Or it begins -shift leads before it:
	// counting back from the place, the lead there first if it is still
	// there.
	key, n, forward := m.before, -shift, false
	if shift > 0 {
		n, forward = shift, true
	} else if m.gone {
		n++
	}
	if !mendable(n, q.Offset) {
		return impl.LeadKey{}, false, nil
	}
	if n > 0 {
		var err error
		if key, ok, err = s.keyFrom(ctx, q, cond, args, m.before, n, forward); err != nil || !ok {
			return impl.LeadKey{}, false, err
		}
	}
	if s.marks.mending != nil {
		s.marks.mending()
	}
	return key, true, nil
}

// arrivalsStatement counts the leads of q's list above the largest id it
// had at m (at most d+1 of them, read by the list's id index), and how many
// of them sort before m's lead.
func (s *LeadStore) arrivalsStatement(q impl.LeadQuery, cond string, args []any, m pageMark, d int64) (string, []any) {
	col := impl.LeadSortColumns[q.Sort.Field]
	expr := col
	if col == "name" && s.db.dialect == Postgres {
		expr = `name COLLATE "C"` // as runSQL orders it
	}
	cmp := "<"
	if q.Sort.Desc {
		cmp = ">"
	}
	b := m.before
	var before string
	var bargs []any
	switch {
	case col == "id":
		before, bargs = "id "+cmp+" ?", []any{b.ID}
	case !q.Sort.Nullable():
		before, bargs = "("+expr+", id) "+cmp+" (?, ?)", []any{b.Value, b.ID}
	case b.Value != nil:
		// The leads without a value come after every lead with one.
		before, bargs = col+" IS NOT NULL AND ("+expr+", id) "+cmp+" (?, ?)", []any{b.Value, b.ID}
	default:
		before, bargs = "("+col+" IS NOT NULL OR id "+cmp+" ?)", []any{b.ID}
	}
	cols := "id"
	if col != "id" {
		cols += ", " + col
	}
	qargs := append(bargs, slices.Clone(args)...)
	qargs = append(qargs, m.maxID)
	// At most d+1 arrivals or more: more than d is all the caller needs to
	// know, and of exactly d, all are read.
	limit, largs := s.limitOf(d + 1)
	qargs = append(qargs, largs...)
	return `SELECT COUNT(*) AS arrived, COALESCE(SUM(CASE WHEN ` + before + ` THEN 1 ELSE 0 END), 0) AS before
		FROM (SELECT ` + cols + ` FROM leads WHERE ` + cond + ` AND id > ? ORDER BY id ` + limit + `) arrivals`, qargs
}

// limitOf is a LIMIT of at least n rows, and its arguments.
//
// dialect: SQLite plans a statement again whenever the value bound to its
// LIMIT differs from its last run's, and a mended mark's reads are for as
// many leads as arrived or moved: a new plan nearly every time. So SQLite
// reads up to the power of two at or above n, written in: at most
// eleven statements for the mendMax leads a mark is mended past, each
// planned once. The caller stops at n. BenchmarkMendedPage: 295-329 µs a
// mended deep page before, 187-192 after (docs/benchmarks.md, "A mended
// mark's reads planned once on SQLite"). On PostgreSQL, a LIMIT written
// in read no faster, and the parameter keeps one statement.
func (s *LeadStore) limitOf(n int64) (string, []any) {
	if s.db.dialect == Postgres {
		return "LIMIT ?", []any{n}
	}
	return "LIMIT " + strconv.FormatInt(int64(1)<<bits.Len64(uint64(max(n, 1)-1)), 10), nil
}

// keyFrom is the place of the lead n places before key in q's order (n ≥
// 1), or after it when forward, read from key in the order's indexes: at
// most n entries.
func (s *LeadStore) keyFrom(ctx context.Context, q impl.LeadQuery, cond string, args []any, key impl.LeadKey, n int64, forward bool) (impl.LeadKey, bool, error) {
	col := impl.LeadSortColumns[q.Sort.Field]
	var lead impl.Lead
	dest := []any{&lead.ID}
	if col != "id" {
		dest = append(dest, sortDest(&lead, col))
	}
	for _, st := range s.keysFrom(q, cond, args, key, forward) {
		limit, largs := s.limitOf(n)
		stmt, err := s.db.prepared(ctx, st.query+limit)
		if err != nil {
			return impl.LeadKey{}, false, fmt.Errorf("find leads: %w", err)
		}
		rows, err := stmt.QueryContext(ctx, append(st.args, largs...)...)
		if err != nil {
			return impl.LeadKey{}, false, fmt.Errorf("find leads: %w", err)
		}
		for n > 0 && rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return impl.LeadKey{}, false, fmt.Errorf("find leads: %w", err)
			}
			n--
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return impl.LeadKey{}, false, fmt.Errorf("find leads: %w", err)
		}
		if n == 0 {
			return keyOf(q.Sort, &lead), true, nil
		}
	}
	return impl.LeadKey{}, false, nil
}

// statement is a statement and its arguments.
type statement struct {
	query string
	args  []any
}

// keysFrom are the statements that read the places of the leads before key
// in q's order (after it, when forward), nearest first, one run after the
// other; each ends where its LIMIT (limitOf) is to be added.
func (s *LeadStore) keysFrom(q impl.LeadQuery, cond string, args []any, key impl.LeadKey, forward bool) []statement {
	from := q
	from.After, from.Offset = &key, 0
	if !forward {
		from.Sort.Desc = !q.Sort.Desc
	}
	var runs []leadRun
	switch {
	case forward || !q.Sort.Nullable():
		runs = s.runs(from, leadCounts{})
	case key.Value == nil:
		// Back through the leads without a value, then from the last lead
		// with one.
		runs = []leadRun{{missing: true, after: &key}, {}}
	default:
		runs = s.runs(from, leadCounts{})
		runs = runs[:len(runs)-1] // not into the leads without a value
	}
	cols := "id"
	if col := impl.LeadSortColumns[q.Sort.Field]; col != "id" {
		cols += ", " + col
	}
	var sts []statement
	for _, r := range runs {
		rs := s.runSQL(from, cond, args, r)
		// From the order's index alone, as a page's ids are read.
		sts = append(sts, statement{`SELECT ` + cols + ` FROM ` + rs.from + ` WHERE ` + rs.cond + ` AND ` + rs.run + ` ORDER BY ` + rs.order + ` `, rs.args})
	}
	return sts
}

// sortDest is where a lead's column col scans to, as leadFields has it.
func sortDest(l *impl.Lead, col string) any {
	switch col {
	case "name":
		return &l.Name
	case "deal_value":
		return &l.DealValue
	case "lead_score":
		return &l.LeadScore
	case "created_at":
		return storedTime{&l.CreatedAt}
	case "updated_at":
		return storedTime{&l.UpdatedAt}
	}
	return &l.ID
}

// sortRevision is what a list in each sort's order reads as its revision
// (00014): the list's own (list_revision), which moves when a lead joins or
// leaves it, and the sort field's (revisionOf), which moves when a lead's
// value of it changes. A write that moves neither leaves the list's
// deep-page marks standing. (lead_counts.revision, which every write
// moves, is 00012's, for servers of the version before during a rolling
// restart.)
var sortRevision = func() map[string]string {
	m := map[string]string{}
	for field := range impl.LeadSortColumns {
		m[field] = countersColumns[cList]
		if c := revisionOf(field); c >= 0 {
			m[field] += " + " + countersColumns[c]
		}
	}
	return m
}()

// leadRun is a stretch of one order, read by one statement from one index,
// in the index's order: the leads after a place (or from the start),
// skipping offset, at most limit. In an order by a field that may be
// missing, the leads with a value and those without are two runs, one after
// the other.
type leadRun struct {
	missing bool          // the leads without a value (a nullable sort only)
	after   *impl.LeadKey // start after this lead, nil for the run's start
	// On SQLite, after a cursor's lead with a value: the leads that tie
	// with it (ties), then those beyond its value (beyond). See runs.
	ties, beyond bool
	offset       int64
	limit        int
	// revision: read the list's revision with the run (leadsInOrder).
	revision bool
}

// runs are the runs q's page is read from, in order, until it is full.
func (s *LeadStore) runs(q impl.LeadQuery, counts leadCounts) []leadRun {
	nullable := q.Sort.Nullable()
	if q.After == nil {
		withValue := counts.withValue(q.Sort)
		switch {
		case !nullable:
			return []leadRun{{offset: q.Offset}}
		case q.Offset >= withValue:
			return []leadRun{{missing: true, offset: q.Offset - withValue}}
		}
		return []leadRun{{offset: q.Offset}, {missing: true}}
	}
	if q.Sort.Field == "id" || nullable && q.After.Value == nil {
		// By id, or among the leads without a value (ordered by id).
		return []leadRun{{missing: nullable, after: q.After}}
	}
	runs := []leadRun{{after: q.After}}
	if s.db.dialect == SQLite {
		// dialect: SQLite bounds an index walk by the first column of a row
		// value only, then tests the rest lead by lead, so (score, id) > (50,
		// 123456) would read every lead with a score of 50 before the cursor
		// (10,000 of a million leads). Two runs seek exactly: the ties after
		// the cursor's id, then the values beyond.
		runs = []leadRun{{after: q.After, ties: true}, {after: q.After, beyond: true}}
	}
	if nullable {
		runs = append(runs, leadRun{missing: true})
	}
	return runs
}

// leadsInOrder reads up to limit leads of q's order, starting at q's offset
// or after its cursor. Marking (a list with a revision, whose page may
// leave marks), seen reports whether every statement that read some of
// them saw the list at counts' revision (runStatement).
func (s *LeadStore) leadsInOrder(ctx context.Context, q impl.LeadQuery, cond string, args []any, counts leadCounts, limit int, marking bool) (leads []*impl.Lead, seen bool, err error) {
	leads, seen = []*impl.Lead{}, marking
	for _, r := range s.runs(q, counts) {
		r.limit, r.revision = limit-len(leads), marking
		more, revision, err := s.readRun(ctx, q, cond, args, r)
		if err != nil {
			return nil, false, err
		}
		if len(more) > 0 && revision != counts.Revision {
			seen = false
		}
		if leads = append(leads, more...); len(leads) == limit {
			break
		}
	}
	return leads, seen, nil
}

// readRun reads one run of q's order, through a statement prepared once
// (per connection, as database/sql prepares it).
//
// dialect: on SQLite, parsing the statement was half of the store's time
// for a page (`ListLeads` profile). On PostgreSQL, planning it for its
// arguments was most of a page's cost to the cluster: with the leads' 20
// indexes to weigh, 32 concurrent pages cost it 532-544 CPU µs each,
// prepared 181-184 (docs/benchmarks.md, "Pages of leads on prepared
// statements"). Prepared, a statement is parsed once. PostgreSQL still
// plans a run that skips leads for its arguments on every run: it costs a
// generic plan of a LIMIT and an OFFSET that are parameters at a tenth of
// the rows, which makes that plan a hash join over the table at 10,000
// leads, and there it keeps choosing the custom one (pg_prepared_statements
// showed 0 generic plans of 8 for a page's statement prepared by hand). So
// such a run's plan is the one for its organization, filter and order; at
// a million leads beside an organization of 10,000 in the same table, no
// page was more than 15 % slower at p50 than unnamed and most were faster.
// A run that skips nothing (a first page, or one after a mark or a
// cursor) has its LIMIT written in instead (literalLimits), and is planned
// once. An operator must not set plan_cache_mode = force_generic_plan for
// these. The statements' text holds only placeholders, columns, index
// names and those few LIMITs, so there are a bounded number of them
// (TestLeadListStatementsAreBounded).
//
// revision is the list's, as the statement saw it, when r.revision.
func (s *LeadStore) readRun(ctx context.Context, q impl.LeadQuery, cond string, args []any, r leadRun) ([]*impl.Lead, int64, error) {
	query, args := s.runStatement(q, cond, args, r)
	var rows *sql.Rows
	stmt, err := s.db.prepared(ctx, query)
	if err == nil {
		rows, err = stmt.QueryContext(ctx, args...)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("find leads: %w", err)
	}
	defer rows.Close()
	leads := make([]*impl.Lead, 0, min(r.limit, 128))
	var revision int64
	for rows.Next() {
		lead := new(impl.Lead)
		if r.revision {
			var seen int64
			err = rows.Scan(append(leadFields(lead), &seen)...)
			revision = seen
		} else {
			err = rows.Scan(leadFields(lead)...)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("find leads: %w", err)
		}
		leads = append(leads, lead)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("find leads: %w", err)
	}
	return leads, revision, nil
}

// runStatement is the statement that reads a run, and its arguments.
func (s *LeadStore) runStatement(q impl.LeadQuery, cond string, condArgs []any, r leadRun) (string, []any) {
	rs := s.runSQL(q, cond, condArgs, r)
	ids := rs.ids()
	args := append(rs.args, r.limit, r.offset)
	if s.db.dialect == Postgres && r.offset == 0 && literalLimits[r.limit] && q.Phone == nil && q.Email == nil {
		ids = rs.idsUpTo(r.limit)
		args = rs.args
	}
	if oneLead(q) {
		// The phone's unique index finds the lead; MATERIALIZED keeps
		// SQLite's planner, which has no statistics, from walking a sort
		// index through the whole organization instead.
		return `WITH matched AS MATERIALIZED (SELECT ` + leadColumns + ` FROM leads WHERE ` + cond + `)
			SELECT ` + s.sql().cols + ` FROM matched WHERE ` + rs.run + ` ORDER BY ` + rs.order + ` LIMIT ? OFFSET ?`, args
	}
	// A deferred join: the offset is walked in the index alone (its entries
	// hold every column the walk needs; with both e-mail and temperature,
	// the e-mail's index and the table), and only the page's leads are read
	// from the table.
	cols := s.sql().colsOfL
	if r.revision {
		// The list's revision, as countStatement reads it, in the page's own
		// snapshot: pageLeads leaves marks only when it is the one counted.
		// Only deep pages read it: on PostgreSQL, planning the subquery
		// cost a page more than reading it. The conditions of such a list
		// (no phone, no e-mail) are lead_counts' columns too.
		cols += `, (SELECT COALESCE(SUM(` + sortRevision[q.Sort.Field] + `), 0) FROM lead_counts WHERE ` + cond + `) AS revision`
		args = append(slices.Clone(condArgs), args...)
	}
	return `SELECT ` + cols + ` FROM (` + ids + `) page
		JOIN leads l ON l.id = page.id ORDER BY ` + prefixed("l.", rs.order), args
}

// literalLimits are the run limits that PostgreSQL reads with a LIMIT
// written in the statement, when the run skips nothing: a page of the
// usual sizes (10, 20, 25, 50, 100) and the lead after it, of a list
// without a phone or an e-mail.
//
// dialect: PostgreSQL prices a generic plan's LIMIT parameter at a tenth of
// the rows, so a page whose LIMIT is a parameter is planned again for its
// arguments on every run; with the LIMIT written in, it can settle on one
// generic plan after five runs, and a page read from the start or after a
// mark or a cursor is not planned again (TestLeadPagesReadAnIndex checks
// that it does, and the plan it keeps). It keeps that plan only while it
// costs less than the first custom plans did on average: a statement run
// mostly for cursors at the end of small lists, whose custom plans are
// cheap, stays custom (docs/benchmarks.md, "First pages of leads planned
// once"). One statement per size: a bounded
// number. Not for an e-mail, whose leads may be one or thousands: those
// are planned for their arguments, as their counts are (countLeads).
var literalLimits = map[int]bool{11: true, 21: true, 26: true, 51: true, 101: true}

// idsUpTo is ids with the LIMIT limit written in and no OFFSET; its
// arguments are the run's alone.
func (r runSQL) idsUpTo(limit int) string {
	return `SELECT id FROM ` + r.from + ` WHERE ` + r.cond + ` AND ` + r.run + ` ORDER BY ` + r.order + ` LIMIT ` + strconv.Itoa(limit)
}

// runSQL is how a run of a query reads in SQL.
type runSQL struct {
	from  string // the table, and on SQLite perhaps the index to read it by
	cond  string // the query's filters
	run   string // what picks the run's leads among them ("1 = 1" for all)
	args  []any  // of cond, then run
	order string // ORDER BY terms: an index's order exactly
}

// ids is the statement that reads the ids of a run's page, in order, from
// one index; its last two arguments are the LIMIT and the OFFSET.
func (r runSQL) ids() string {
	return `SELECT id FROM ` + r.from + ` WHERE ` + r.cond + ` AND ` + r.run + ` ORDER BY ` + r.order + ` LIMIT ? OFFSET ?`
}

func (s *LeadStore) runSQL(q impl.LeadQuery, cond string, args []any, r leadRun) runSQL {
	col := impl.LeadSortColumns[q.Sort.Field]
	expr := col
	if col == "name" && s.db.dialect == Postgres {
		// dialect: compare bytes, as SQLite does, so both databases give the
		// same order whatever the cluster's locale. The name indexes are
		// built on this expression.
		expr = `name COLLATE "C"`
	}
	dir, cmp := "ASC", ">"
	if q.Sort.Desc {
		dir, cmp = "DESC", "<"
	}
	rs := runSQL{from: "leads", cond: cond, args: slices.Clone(args)}
	if q.Email != nil && s.db.dialect == SQLite {
		// dialect: an e-mail picks fewer leads than a temperature or a
		// bound on the sort field, which SQLite, without statistics, cannot
		// know; left to itself it may walk another index and test the
		// e-mail on each lead. PostgreSQL's statistics tell it.
		rs.from = "leads INDEXED BY " + emailSortIndexes[q.Sort.Field]
	}
	var run []string
	if q.Sort.Nullable() {
		if r.missing {
			run = append(run, col+" IS NULL")
		} else {
			run = append(run, col+" IS NOT NULL")
		}
	}
	switch {
	case r.after == nil:
	case col == "id" || r.missing:
		run, rs.args = append(run, "id "+cmp+" ?"), append(rs.args, r.after.ID)
	case r.ties:
		run, rs.args = append(run, expr+" = ?", "id "+cmp+" ?"), append(rs.args, r.after.Value, r.after.ID)
	case r.beyond:
		run, rs.args = append(run, expr+" "+cmp+" ?"), append(rs.args, r.after.Value)
	default:
		// A row value: PostgreSQL starts the index walk at the cursor rather
		// than read the leads before it.
		run, rs.args = append(run, "("+expr+", id) "+cmp+" (?, ?)"), append(rs.args, r.after.Value, r.after.ID)
	}
	rs.run = "1 = 1"
	if len(run) > 0 {
		rs.run = strings.Join(run, " AND ")
	}
	// Leads without a value are ordered by the same expression as the others
	// (all NULL, so by id): that is the index's order, which PostgreSQL
	// would otherwise not see it can use.
	rs.order = expr + " " + dir + ", id " + dir
	if col == "id" {
		rs.order = "id " + dir
	}
	return rs
}

// prefixed qualifies every column of a list of columns or order terms.
func prefixed(prefix, list string) string {
	terms := strings.Split(list, ", ")
	for i, t := range terms {
		terms[i] = prefix + t
	}
	return strings.Join(terms, ", ")
}

// UpdateLead implements impl.LeadStore.
func (s *LeadStore) UpdateLead(ctx context.Context, orgID, id int64, update func(*impl.Lead) error) (*impl.Lead, error) {
	var lead *impl.Lead
	var w *leadWrite
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		lead, err = s.findLead(ctx, tx, orgID, id, s.lockSuffix())
		if err != nil {
			return err
		}
		before := *lead
		if err := update(lead); err != nil {
			return err
		}
		lead.Normalize()
		// The store owns these; an update func cannot move, re-date or
		// renumber a lead, and a no-op returns the lead exactly as stored.
		lead.ID, lead.OrganizationID = before.ID, before.OrganizationID
		lead.CreatedAt, lead.UpdatedAt = before.CreatedAt, before.UpdatedAt
		if len(impl.LeadEvents(&before, lead)) == 0 {
			return nil // a no-op returns the lead exactly as stored
		}
		lead.UpdatedAt = s.db.timestamp()
		if w, err = s.beginFollow(ctx, tx, orgID, &before, before.Temperature, lead.Temperature); err != nil {
			return err
		}
		_, err = s.db.execStmt(ctx, tx, `UPDATE leads SET
			phone = ?, name = ?, email = ?, company_name = ?, temperature = ?, lead_score = ?, deal_value = ?, updated_at = ?
			WHERE organization_id = ? AND id = ?`,
			lead.Phone, lead.Name, lead.Email, lead.CompanyName, lead.Temperature, lead.LeadScore, lead.DealValue,
			lead.UpdatedAt, orgID, id)
		if isUniqueViolation(err) {
			return impl.ErrDuplicatePhone()
		}
		if err != nil {
			return fmt.Errorf("update lead: %w", err)
		}
		if err := s.endFollow(ctx, tx, w, lead); err != nil {
			return err
		}
		return appendLeadEvents(ctx, s.db, tx, &before, lead)
	})
	if err != nil {
		return nil, err
	}
	s.marks.follow(w)
	return lead, nil
}

// appendLeadEvents writes the events impl.LeadEvents says the change from
// before to lead causes, stamped with the lead's updated_at.
func appendLeadEvents(ctx context.Context, db *DB, tx *sqlx.Tx, before, lead *impl.Lead) error {
	for _, typ := range impl.LeadEvents(before, lead) {
		if err := db.appendEvent(ctx, tx, lead.OrganizationID, typ, lead.UpdatedAt, lead); err != nil {
			return err
		}
	}
	return nil
}

// DeleteLeadIf implements impl.LeadStore: the lead is read and locked in
// the transaction that deletes it, so no change can come between the check
// and the delete.
func (s *LeadStore) DeleteLeadIf(ctx context.Context, orgID, id int64, check func(*impl.Lead) error) error {
	var w *leadWrite
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		lead, err := s.findLead(ctx, tx, orgID, id, s.lockSuffix())
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(lead); err != nil {
				return err
			}
		}
		if w, err = s.beginFollow(ctx, tx, orgID, lead, lead.Temperature); err != nil {
			return err
		}
		if _, err := s.db.execStmt(ctx, tx, `DELETE FROM leads WHERE organization_id = ? AND id = ?`, orgID, id); err != nil {
			return fmt.Errorf("delete lead: %w", err)
		}
		return s.endFollow(ctx, tx, w, nil)
	})
	if err == nil {
		s.marks.follow(w)
	}
	return err
}

// lockSuffix locks the row a transaction reads before it changes it.
func (s *LeadStore) lockSuffix() string {
	if s.db.dialect == Postgres {
		// dialect: SQLite's BEGIN IMMEDIATE already holds the write lock.
		return " FOR UPDATE"
	}
	return ""
}

// DeleteLead implements impl.LeadStore.
func (s *LeadStore) DeleteLead(ctx context.Context, orgID, id int64) error {
	if s.marks.inOrg(orgID) {
		// The lead as it was, for the marks to follow (followmarks.go).
		return s.DeleteLeadIf(ctx, orgID, id, nil)
	}
	res, err := s.db.execStmt(ctx, nil, `DELETE FROM leads WHERE organization_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return fmt.Errorf("delete lead: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return impl.Errorf(impl.ENotFound, "Lead not found.")
	}
	return nil
}
