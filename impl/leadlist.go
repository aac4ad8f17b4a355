package impl

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"time"
)

// LeadSort is an order of the lead list: a field of LeadSortColumns,
// ascending or descending. Leads without a value for the field come last in
// both directions, and id breaks ties in the same direction, so every lead
// has one place in every order.
type LeadSort struct {
	Field string
	Desc  bool
}

// DefaultLeadSort is the order of a list that names none: newest first.
var DefaultLeadSort = LeadSort{Field: "created_at", Desc: true}

// ParseLeadSort reads a sort key ("name", "-deal_value"); "" is
// DefaultLeadSort. An unknown field is EBadRequest.
func ParseLeadSort(s string) (LeadSort, error) {
	if s == "" {
		return DefaultLeadSort, nil
	}
	sort := LeadSort{Field: strings.TrimPrefix(s, "-"), Desc: strings.HasPrefix(s, "-")}
	if _, ok := LeadSortColumns[sort.Field]; !ok {
		return LeadSort{}, Errorf(EBadRequest, "Unknown sort field %q.", sort.Field).WithDetailText("sort", Text{En: "unknown sort field", PtBR: "O campo sort não é um campo de ordenação."})
	}
	return sort, nil
}

// String is the sort key as the API writes it.
func (s LeadSort) String() string {
	if s.Desc {
		return "-" + s.Field
	}
	return s.Field
}

// Nullable reports whether leads may have no value for the field; those
// come after every lead that has one, in both directions.
func (s LeadSort) Nullable() bool { return s.Field == "name" || s.Field == "deal_value" }

// KeyOf is l's place in this order.
func (s LeadSort) KeyOf(l *Lead) LeadKey {
	k := LeadKey{ID: l.ID}
	switch s.Field {
	case "name":
		if l.Name != nil {
			k.Value = *l.Name
		}
	case "deal_value":
		if l.DealValue != nil {
			k.Value = *l.DealValue
		}
	case "lead_score":
		k.Value = l.LeadScore
	case "created_at":
		k.Value = l.CreatedAt
	case "updated_at":
		k.Value = l.UpdatedAt
	}
	return k
}

// Compare orders two places in this order as the databases order them:
// values in the order's direction (names byte by byte, as both compare
// them), places without a value after every place with one, ties by id in
// the same direction. It is negative when a comes first, 0 for the same
// place. Both keys are of this order (KeyOf).
func (s LeadSort) Compare(a, b LeadKey) int {
	if (a.Value == nil) != (b.Value == nil) {
		if a.Value == nil {
			return 1 // no value: last, whatever the direction
		}
		return -1
	}
	c := 0
	switch av := a.Value.(type) {
	case string:
		c = strings.Compare(av, b.Value.(string))
	case float64:
		c = cmp.Compare(av, b.Value.(float64))
	case int32:
		c = cmp.Compare(av, b.Value.(int32))
	case time.Time:
		c = av.Compare(b.Value.(time.Time))
	}
	if c == 0 {
		c = cmp.Compare(a.ID, b.ID)
	}
	if s.Desc {
		return -c
	}
	return c
}

// LeadKey is a lead's place in a LeadSort: the value of the sort field and
// the id that breaks ties. Value is a string (name), float64 (deal_value),
// int32 (lead_score) or time.Time (created_at, updated_at); nil when the
// lead has no value, and always nil in the order by id.
type LeadKey struct {
	Value any
	ID    int64
}

// LeadFilter selects and orders leads. Nil fields do not filter.
type LeadFilter struct {
	Phone       *string
	Email       *string
	Temperature *string
	// Sort is a key of LeadSortColumns, optionally prefixed by "-"; "" is
	// DefaultLeadSort, or with a Cursor the cursor's sort.
	Sort   string
	Offset int64
	Limit  int
	// Cursor, when not "", continues a walk after the last lead of an
	// earlier page: that page's LeadPage.Next. The page then starts after
	// that lead, not at Offset.
	Cursor string
}

// LeadPage is one page of a lead list.
type LeadPage struct {
	Leads []*Lead
	// Total is the number of leads matching the filters, on all pages.
	Total int64
	// Offset is how many leads come before this page's first: the offset
	// asked for, or, in a walk by cursor, how many leads the walk returned
	// before this page.
	Offset int64
	// Next is the cursor of the leads after this page, or "" when this page
	// is the last.
	Next string
}

// LeadQuery is a LeadFilter resolved for the store: filters in their stored
// form, the sort parsed, and where the page starts.
type LeadQuery struct {
	Phone, Email, Temperature *string
	Sort                      LeadSort
	Limit                     int
	// Offset is the number of leads to skip (numbered pages).
	Offset int64
	// After, in a walk by cursor, is the place of the last lead returned:
	// the page starts after it. Seen is how many leads the walk returned.
	After *LeadKey
	Seen  int64
}

// Resolve turns f into the query the store runs for organization orgID,
// reading f.Cursor with key (the server's cursor key). A cursor that is
// malformed, altered or made for another organization, a cursor with an
// Offset, and a Sort or filter that differs from the cursor's are
// EBadRequest; a Sort or filter left out takes the cursor's.
func (f LeadFilter) Resolve(key []byte, orgID int64) (LeadQuery, error) {
	q := LeadQuery{Limit: f.Limit, Offset: f.Offset}
	if f.Phone != nil {
		q.Phone = ptrTo(NormalizePhone(*f.Phone))
	}
	if f.Email != nil {
		q.Email = ptrTo(NormalizeEmail(*f.Email))
	}
	q.Temperature = f.Temperature
	if f.Cursor == "" {
		var err error
		q.Sort, err = ParseLeadSort(f.Sort)
		return q, err
	}
	if f.Offset != 0 {
		return LeadQuery{}, ErrCursorWithPage()
	}
	c, err := decodeLeadCursor(key, orgID, f.Cursor)
	if err != nil {
		return LeadQuery{}, err
	}
	if f.Sort != "" && f.Sort != c.Sort.String() {
		return LeadQuery{}, Errorf(EBadRequest, "The request has invalid parameters.").
			WithDetailText("cursor", Text{
				En:   "was made for sort=" + c.Sort.String() + "; leave sort out or give the same",
				PtBR: "O campo cursor foi gerado para sort=" + c.Sort.String() + "; omita sort ou envie o mesmo valor.",
			})
	}
	for _, filter := range []struct {
		name        string
		given, made *string
	}{{"phone", q.Phone, c.Phone}, {"email", q.Email, c.Email}, {"temperature", q.Temperature, c.Temperature}} {
		if filter.given != nil && (filter.made == nil || *filter.given != *filter.made) {
			return LeadQuery{}, errCursorFilter(filter.name)
		}
	}
	q.Sort, q.Phone, q.Email, q.Temperature = c.Sort, c.Phone, c.Email, c.Temperature
	q.After, q.Seen = &c.After, c.Seen
	return q, nil
}

// Start is how many leads come before the page: its offset, or in a walk
// how many leads the walk returned so far.
func (q LeadQuery) Start() int64 {
	if q.After != nil {
		return q.Seen
	}
	return q.Offset
}

// Next is the cursor that continues after last, the last lead of a page of
// this query holding returned leads, for organization orgID.
func (q LeadQuery) Next(key []byte, orgID int64, last *Lead, returned int) string {
	return encodeLeadCursor(key, orgID, leadCursor{
		Sort: q.Sort, Phone: q.Phone, Email: q.Email, Temperature: q.Temperature,
		After: q.Sort.KeyOf(last), Seen: q.Start() + int64(returned),
	})
}

// ErrCursorWithPage is the error of a list asked for by page and by cursor
// at once: a cursor says where the page starts.
func ErrCursorWithPage() *Error {
	return Errorf(EBadRequest, "The request has invalid parameters.").
		WithDetailText("cursor", Text{
			En:   "cannot be combined with page; a cursor says where the page starts",
			PtBR: "O campo cursor não pode ser combinado com page; o cursor já diz onde a página começa.",
		})
}

// errCursorFilter is the error of a filter given with a cursor that was
// made without it, or with another value.
func errCursorFilter(name string) *Error {
	return Errorf(EBadRequest, "The request has invalid parameters.").
		WithDetailText("cursor", Text{
			En:   "was made for another " + name + " filter; leave " + name + " out or give the same",
			PtBR: "O campo cursor foi gerado para outro filtro " + name + "; omita " + name + " ou envie o mesmo valor.",
		})
}

func errBadCursor() *Error {
	return Errorf(EBadRequest, "The request has invalid parameters.").
		WithDetailText("cursor", Text{
			En:   "is not a cursor this API gave your organization: pass meta.next_cursor exactly as given",
			PtBR: "O campo cursor não é um cursor que esta API deu à sua organização: envie meta.next_cursor exatamente como recebido.",
		})
}

func ptrTo[T any](v T) *T { return &v }

// leadCursor is what a cursor says: the list it belongs to (sort and
// filters), the last lead it returned, and how many leads it returned.
type leadCursor struct {
	Sort                      LeadSort
	Phone, Email, Temperature *string
	After                     LeadKey
	Seen                      int64
}

// A cursor is base64url (no padding) of
//
//	version (1 byte) | tag (16 bytes) | body
//
// where tag is the first 16 bytes of HMAC-SHA256(key, leadCursorDomain | the
// organization's id, 8 bytes big-endian | body). The organization is in the
// tag, not the body, so a cursor of another organization fails like an
// altered one, and says nothing about whose it was. The body is binary, to
// keep cursors short in URLs:
//
//	sort (1 byte: index in leadSortKeys)
//	flags (1 byte: cursorPhone | cursorEmail | cursorTemperature | cursorValue)
//	each filter present, in that order: uvarint length | bytes
//	the value, when present: name: uvarint length | bytes;
//	  deal_value: 8 bytes, IEEE 754 big-endian; lead_score: varint;
//	  created_at, updated_at: varint Unix nanoseconds
//	id: uvarint | seen: uvarint
//
// New sort keys are appended to leadSortKeys, so old cursors keep their
// meaning; a new layout takes a new version.
const (
	cursorVersion    = 1
	cursorTagSize    = 16
	leadCursorDomain = "iagente-sdr lead cursor\x00"

	cursorPhone       = 1 << 0
	cursorEmail       = 1 << 1
	cursorTemperature = 1 << 2
	cursorValue       = 1 << 3
	cursorFlags       = cursorPhone | cursorEmail | cursorTemperature | cursorValue
)

var leadSortKeys = []string{
	"id", "-id", "name", "-name", "created_at", "-created_at",
	"updated_at", "-updated_at", "lead_score", "-lead_score", "deal_value", "-deal_value",
}

// cursorMaxString bounds a string read from a cursor; the spec's limits
// (255 characters of up to 4 bytes, 254-character e-mails) are well below.
const cursorMaxString = 1024

// cursorTag signs a cursor's body for organization orgID; domain tells
// the lists apart, so that one list's cursor is not another's.
func cursorTag(key []byte, domain string, orgID int64, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(domain))
	mac.Write(binary.BigEndian.AppendUint64(nil, uint64(orgID)))
	mac.Write(body)
	return mac.Sum(nil)[:cursorTagSize]
}

// sealCursor is the cursor of body: version, tag and body, in base64url.
func sealCursor(key []byte, domain string, orgID int64, body []byte) string {
	out := append([]byte{cursorVersion}, cursorTag(key, domain, orgID, body)...)
	return base64.RawURLEncoding.EncodeToString(append(out, body...))
}

// openCursor returns the body of a cursor that sealCursor made with the
// same key, domain and organization, or errBadCursor.
func openCursor(key []byte, domain string, orgID int64, s string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < 1+cursorTagSize || raw[0] != cursorVersion {
		return nil, errBadCursor()
	}
	tag, body := raw[1:1+cursorTagSize], raw[1+cursorTagSize:]
	if !hmac.Equal(tag, cursorTag(key, domain, orgID, body)) {
		return nil, errBadCursor()
	}
	return body, nil
}

func encodeLeadCursor(key []byte, orgID int64, c leadCursor) string {
	var body []byte
	body = append(body, byte(slices.Index(leadSortKeys, c.Sort.String())))
	var flags byte
	var filters []byte
	for _, f := range []struct {
		flag byte
		v    *string
	}{{cursorPhone, c.Phone}, {cursorEmail, c.Email}, {cursorTemperature, c.Temperature}} {
		if f.v != nil {
			flags |= f.flag
			filters = appendString(filters, *f.v)
		}
	}
	var value []byte
	if c.After.Value != nil {
		flags |= cursorValue
		switch v := c.After.Value.(type) {
		case string:
			value = appendString(value, v)
		case float64:
			value = binary.BigEndian.AppendUint64(value, math.Float64bits(v))
		case int32:
			value = binary.AppendVarint(value, int64(v))
		case time.Time:
			value = binary.AppendVarint(value, v.UnixNano())
		}
	}
	body = append(body, flags)
	body = append(body, filters...)
	body = append(body, value...)
	body = binary.AppendUvarint(body, uint64(c.After.ID))
	body = binary.AppendUvarint(body, uint64(c.Seen))

	return sealCursor(key, leadCursorDomain, orgID, body)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decodeLeadCursor reads a cursor made by encodeLeadCursor with the same key
// for the same organization; anything else is errBadCursor. The tag is
// checked before the body is read, so only the server's own bodies are
// parsed; the parse is strict all the same.
func decodeLeadCursor(key []byte, orgID int64, s string) (leadCursor, error) {
	body, err := openCursor(key, leadCursorDomain, orgID, s)
	if err != nil {
		return leadCursor{}, err
	}
	r := cursorReader{b: body}
	var c leadCursor
	sortIndex, flags := r.byte(), r.byte()
	if r.bad || int(sortIndex) >= len(leadSortKeys) || flags&^cursorFlags != 0 {
		return leadCursor{}, errBadCursor()
	}
	c.Sort, _ = ParseLeadSort(leadSortKeys[sortIndex])
	for _, f := range []struct {
		flag byte
		dst  **string
	}{{cursorPhone, &c.Phone}, {cursorEmail, &c.Email}, {cursorTemperature, &c.Temperature}} {
		if flags&f.flag != 0 {
			*f.dst = ptrTo(r.string())
		}
	}
	if c.Temperature != nil && !slices.Contains(Temperatures, *c.Temperature) {
		return leadCursor{}, errBadCursor()
	}
	hasValue := flags&cursorValue != 0
	switch {
	case c.Sort.Field == "id" && hasValue, !c.Sort.Nullable() && c.Sort.Field != "id" && !hasValue:
		return leadCursor{}, errBadCursor()
	case hasValue:
		switch c.Sort.Field {
		case "name":
			c.After.Value = r.string()
		case "deal_value":
			v := math.Float64frombits(r.uint64())
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return leadCursor{}, errBadCursor()
			}
			c.After.Value = v
		case "lead_score":
			v := r.varint()
			if v < math.MinInt32 || v > math.MaxInt32 {
				return leadCursor{}, errBadCursor()
			}
			c.After.Value = int32(v)
		case "created_at", "updated_at":
			c.After.Value = time.Unix(0, r.varint()).UTC()
		}
	}
	id, seen := r.uvarint(), r.uvarint()
	if r.bad || len(r.b) != 0 || id == 0 || id > math.MaxInt64 || seen > math.MaxInt64 {
		return leadCursor{}, errBadCursor()
	}
	c.After.ID, c.Seen = int64(id), int64(seen)
	return c, nil
}

// cursorReader reads a cursor body; a read past the end sets bad.
type cursorReader struct {
	b   []byte
	bad bool
}

func (r *cursorReader) byte() byte {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *cursorReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cursorReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cursorReader) uint64() uint64 {
	if len(r.b) < 8 {
		r.bad = true
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *cursorReader) string() string {
	n := r.uvarint()
	if r.bad || n > cursorMaxString || n > uint64(len(r.b)) {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
