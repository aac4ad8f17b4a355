package contract

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-json-experiment/json/jsontext"
)

// A walk passes a JSON body by reading it token by token against its
// schema, without building the body as Go maps and slices first.
//
// Checking a response used to decode the whole body into maps (our
// decoder) and hand it to kin-openapi's VisitJSON: for a lead, 13 of the
// 80 CPU µs of GET /leads/{id}, half of it building the maps. The walk does
// the structural part of that visit on the tokens: which members an object
// has, the required ones, additionalProperties, the items of an array, their
// count and (for strings) their uniqueness, and not, oneOf (with its
// discriminator), anyOf and allOf over them; a value the schema leaves free
// is skipped. Every scalar (a string, number, boolean or null) goes to its
// leaf (leaf.go), which passes it when it plainly meets its schema, and
// otherwise to kin-openapi's VisitJSON.
//
// A walk's verdict is exact or it is unsure, with one exception: a refusal
// comes as soon as a member's value is refused, so a body that gives that
// name again, with a value kin-openapi passes (it judges the last), is
// refused by the walk. A refusal goes through the full visit anyway, and
// within oneOf, anyOf and not, where refusals are counted, a value with a
// repeated name is unsure. Anything it does not model (an enum on an
// object or array, uniqueItems of anything but strings, the 3.1 keywords,
// readOnly and writeOnly, a schema that refers to itself for the same
// value) makes it unsure, and an unsure or refused body goes through the
// full visit, which decides and words the error. So the walk can only save
// time: what it passes, kin-openapi passes (TestWalkAgreesWithVisitJSON,
// TestWalkAgreesOnCombinedSchemas and FuzzWalk compare the two).
type verdict uint8

const (
	accepted verdict = iota
	refused
	unsure
)

// walkDepth bounds the nesting a walk follows; deeper is unsure.
const walkDepth = 64

// shape is what a walk needs of a schema it applies to an object or an
// array, worked out once per schema.
type shape struct {
	// empty is kin-openapi's IsEmpty: the schema accepts any value.
	empty bool
	// leaf passes the scalars that plainly meet the schema.
	leaf *leaf
	// bareObject and bareArray are set when the schema's own keywords
	// (those but oneOf, anyOf, allOf and not) pass any object or array.
	bareObject, bareArray bool
	// modelled is false when the schema uses a keyword the walk leaves to
	// the full visit.
	modelled bool
	// index numbers the names of properties and required members; props
	// holds the schema of each (nil for a required name without one), and
	// required has the bit of each required name.
	index    map[string]int
	props    []*openapi3.Schema
	required uint64
	// kids are the shapes of props, then of items and of
	// additionalProperties, found on first use: looking each up in shapes
	// was a tenth of checking a lead's response.
	kids []atomic.Pointer[shape]
}

// Slots of kids after the properties'.
const (
	itemsKid = iota
	additionalKid
	otherKids
)

// kid is the shape of t, the schema in slot i of kids.
func (sh *shape) kid(i int, t *openapi3.Schema) *shape {
	if k := sh.kids[i].Load(); k != nil {
		return k
	}
	k := shapeOf(t)
	sh.kids[i].Store(k)
	return k
}

var shapes sync.Map // *openapi3.Schema -> *shape

func shapeOf(s *openapi3.Schema) *shape {
	if sh, ok := shapes.Load(s); ok {
		return sh.(*shape)
	}
	sh := &shape{empty: s.IsEmpty(), modelled: modelled(s), leaf: leafOf(s)}
	sh.bareObject = s.Type.Permits(openapi3.TypeObject) && len(s.Properties) == 0 && len(s.Required) == 0 &&
		s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil && s.MinProps == 0 && s.MaxProps == nil
	sh.bareArray = s.Type.Permits(openapi3.TypeArray) && s.Items == nil && s.MinItems == 0 && s.MaxItems == nil && !s.UniqueItems
	if sh.modelled && !sh.empty {
		sh.index = map[string]int{}
		for name, ref := range s.Properties {
			if ref == nil || ref.Value == nil {
				sh.modelled = false
				break
			}
			sh.index[name] = len(sh.props)
			sh.props = append(sh.props, ref.Value)
		}
		for _, name := range s.Required {
			if _, ok := sh.index[name]; !ok {
				sh.index[name] = len(sh.props)
				sh.props = append(sh.props, nil)
			}
			if i := sh.index[name]; i < 64 {
				sh.required |= 1 << i
			}
		}
		if len(sh.props) > 64 {
			sh.modelled = false
		}
	}
	sh.kids = make([]atomic.Pointer[shape], len(sh.props)+otherKids)
	actual, _ := shapes.LoadOrStore(s, sh)
	return actual.(*shape)
}

// bare reports whether s checks nothing of its own of a value that begins
// with first ('{' or '['), beyond its oneOf, anyOf, allOf and not: then
// applied need not read the value for it.
func (sh *shape) bare(first byte) bool {
	return sh.bareObject && first == '{' || sh.bareArray && first == '['
}

// modelled reports whether the walk models every keyword of s that
// applies to an object or an array.
func modelled(s *openapi3.Schema) bool {
	if s.Always != nil || len(s.Enum) != 0 || s.Const != nil ||
		len(s.PrefixItems) != 0 || s.Contains != nil ||
		s.MinContains != nil || s.MaxContains != nil ||
		len(s.PatternProperties) != 0 || len(s.DependentSchemas) != 0 ||
		len(s.DependentRequired) != 0 || s.PropertyNames != nil ||
		s.UnevaluatedItems.Has != nil || s.UnevaluatedItems.Schema != nil ||
		s.UnevaluatedProperties.Has != nil || s.UnevaluatedProperties.Schema != nil ||
		s.ReadOnly || s.WriteOnly {
		return false
	}
	if ap := s.AdditionalProperties.Schema; ap != nil && ap.Value == nil {
		return false
	}
	if s.Items != nil && s.Items.Value == nil {
		return false
	}
	if s.Not != nil && s.Not.Value == nil {
		return false
	}
	for _, of := range [][]*openapi3.SchemaRef{s.OneOf, s.AnyOf, s.AllOf} {
		for _, ref := range of {
			if ref == nil || ref.Value == nil {
				return false
			}
		}
	}
	return true
}

// walker holds the options scalars are visited with.
type walker struct {
	leaf []openapi3.SchemaValidationOption
}

// walking is one body's walk. budget bounds how many times it may read a
// value again for oneOf, anyOf and allOf (nested ones multiply); past it,
// the walk is unsure.
type walking struct {
	leaf   []openapi3.SchemaValidationOption
	budget int
}

// walkBudget is a walk's budget of values read again.
const walkBudget = 256

// walkers are the tokenizers walks reuse, each over a bytes.Buffer it
// reads in place.
type walkDecoder struct {
	dec  jsontext.Decoder
	body bytes.Buffer
}

// walkJSON lets names repeat: the tokenizer would otherwise keep every
// object's names, down to the members of a free-form object the walk only
// skips (a carousel's content). The walk notes the names that matter
// itself, and a repeated one makes it unsure.
var walkJSON = []jsontext.Options{jsontext.AllowDuplicateNames(true)}

var walkDecoders = sync.Pool{New: func() any { return new(walkDecoder) }}

// borrowDecoder is a pooled tokenizer over data, with walkJSON's options.
func borrowDecoder(data []byte) *walkDecoder {
	d := walkDecoders.Get().(*walkDecoder)
	d.body = *bytes.NewBuffer(data)
	d.dec.Reset(&d.body, walkJSON...)
	return d
}

// release returns d to the pool, keeping no reference to the data.
func (d *walkDecoder) release() {
	d.body = bytes.Buffer{}
	d.dec.Reset(&d.body)
	walkDecoders.Put(d)
}

// body walks data, one JSON value, against s.
func (w walker) body(data []byte, s *openapi3.Schema) verdict {
	return (&walking{leaf: w.leaf, budget: walkBudget}).raw(data, s, nil, false, 0)
}

// raw walks data against s with a tokenizer of its own. same lists the
// schemas already applied to this value (through not, oneOf, anyOf or
// allOf); own leaves out s's not, oneOf, anyOf and allOf, which the caller
// applies.
func (w *walking) raw(data []byte, s *openapi3.Schema, same []*openapi3.Schema, own bool, depth int) verdict {
	if w.budget--; w.budget < 0 {
		return unsure
	}
	d := borrowDecoder(data)
	defer d.release()
	v := w.value(&d.dec, s, nil, same, own, depth)
	if v == accepted {
		if _, err := d.dec.ReadToken(); err != io.EOF {
			return unsure // data after the value: the decoder judges that
		}
	}
	// A refusal may come before the end: the value is refused whatever
	// follows it.
	return v
}

// value consumes one value from dec and judges it against s.
// sh is s's shape when the caller has it, else nil.
func (w *walking) value(dec *jsontext.Decoder, s *openapi3.Schema, sh *shape, same []*openapi3.Schema, own bool, depth int) verdict {
	if depth > walkDepth {
		return unsure
	}
	if sh == nil {
		sh = shapeOf(s)
	}
	kind := dec.PeekKind()
	if kind != '{' && kind != '[' {
		return w.scalar(dec, s, sh.leaf)
	}
	switch {
	case !sh.modelled:
		return unsure
	case sh.empty:
		return w.skip(dec)
	}
	if !own && (len(s.OneOf)+len(s.AnyOf)+len(s.AllOf) != 0 || s.Not != nil) {
		for _, t := range same {
			if t == s {
				return unsure // kin-openapi passes a schema met again
			}
		}
		// raw stays valid while dec is not read, which it is not until
		// applied returns.
		raw, err := dec.ReadValue()
		if err != nil {
			return unsure
		}
		return w.applied(raw, s, append(same, s), depth)
	}
	if kind == '{' {
		return w.object(dec, s, sh, depth)
	}
	return w.array(dec, s, sh, depth)
}

// applied judges data against s's not, oneOf, anyOf and allOf and against
// the rest of s, as kin-openapi does: each of those must pass.
func (w *walking) applied(data []byte, s *openapi3.Schema, same []*openapi3.Schema, depth int) verdict {
	// A branch's refusal must be exact to count the branches that match,
	// and a walk refuses a member's value as soon as it reads it, before
	// it could see the same name again with another value, which is the
	// one kin-openapi would judge (the last). So a value with a name given
	// twice, at any depth, is left to kin-openapi.
	if !jsontext.Value(data).IsValid() {
		return unsure
	}
	return combined(s, data[0],
		func(t *openapi3.Schema, own bool) verdict { return w.raw(data, t, same, own, depth) },
		func(d *openapi3.Discriminator) (string, verdict) { return discriminated(data, d) })
}

// combined judges a value that begins with first ('{' or '[') against s's
// own keywords, its not, oneOf, anyOf and allOf, as kin-openapi does: each
// of those must pass. apply judges the value against one schema (against
// s's own keywords only when own is set); pick is the branch s's
// discriminator picks for the value.
func combined(s *openapi3.Schema, first byte, apply func(t *openapi3.Schema, own bool) verdict,
	pick func(*openapi3.Discriminator) (string, verdict)) verdict {
	all := accepted
	if !shapeOf(s).bare(first) {
		all = apply(s, true)
	}
	if all == refused {
		return refused
	}
	if s.Not != nil {
		switch apply(s.Not.Value, false) {
		case accepted:
			return refused
		case unsure:
			all = unsure
		}
	}
	// With a discriminator, kin-openapi visits only the branch it maps
	// the value to (or refuses the value if it maps it to none).
	only := ""
	if s.Discriminator != nil && len(s.OneOf)+len(s.AnyOf) != 0 {
		var v verdict
		if only, v = pick(s.Discriminator); v != accepted {
			return v
		}
	}
	if len(s.OneOf) != 0 {
		matched, doubt := 0, false
		for _, ref := range s.OneOf {
			if only != "" && ref.Ref != only {
				continue
			}
			switch apply(ref.Value, false) {
			case accepted:
				matched++
			case unsure:
				doubt = true
			}
		}
		switch {
		case doubt:
			all = unsure
		case matched != 1:
			return refused
		}
	}
	if len(s.AnyOf) != 0 {
		matched, doubt := false, false
		for _, ref := range s.AnyOf {
			if only != "" && ref.Ref != only {
				continue
			}
			switch apply(ref.Value, false) {
			case accepted:
				matched = true
			case unsure:
				doubt = true
			}
			if matched {
				break
			}
		}
		switch {
		case matched:
		case doubt:
			all = unsure
		default:
			return refused
		}
	}
	for _, ref := range s.AllOf {
		switch apply(ref.Value, false) {
		case refused:
			return refused
		case unsure:
			all = unsure
		}
	}
	return all
}

// scalar judges one string, number, boolean or null with kin-openapi.
//
// A string without escapes and a number are judged on the decoder's own
// bytes (borrowed): the leaf's checks keep nothing, and only what goes on
// to kin-openapi is copied. Copying each one was a third of the
// allocations of a lead's walk.
func (w *walking) scalar(dec *jsontext.Decoder, s *openapi3.Schema, l *leaf) verdict {
	var v any
	switch dec.PeekKind() {
	case '"':
		raw, err := dec.ReadValue()
		if err != nil {
			return unsure
		}
		var text string
		if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 {
			text = borrowed(inner)
		} else {
			unquoted, err := jsontext.AppendUnquote(nil, raw)
			if err != nil {
				return unsure
			}
			text = string(unquoted)
		}
		if l.stringValue(text) {
			return accepted
		}
		v = strings.Clone(text)
	case '0':
		raw, err := dec.ReadValue()
		if err != nil {
			return unsure
		}
		if l.numberValue(borrowed(raw)) {
			return accepted
		}
		n, err := number(string(raw))
		if err != nil {
			return unsure
		}
		v = n
	default:
		return w.literal(dec, s, l)
	}
	if s.VisitJSON(v, w.leaf...) != nil {
		return refused
	}
	return accepted
}

// borrowed is b as a string without a copy, for a check that keeps
// nothing: b is the decoder's buffer, which its next read may change.
func borrowed(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// literal judges true, false or null, as scalar does.
func (w *walking) literal(dec *jsontext.Decoder, s *openapi3.Schema, l *leaf) verdict {
	tok, err := dec.ReadToken()
	if err != nil {
		return unsure
	}
	var v any
	switch tok.Kind() {
	case 't', 'f':
		if l.boolValue() {
			return accepted
		}
		v = tok.Kind() == 't'
	case 'n':
		if l.null() {
			return accepted
		}
		v = nil
	default:
		return unsure
	}
	if s.VisitJSON(v, w.leaf...) != nil {
		return refused
	}
	return accepted
}

// object judges an object's members as kin-openapi's visitJSONObject does.
func (w *walking) object(dec *jsontext.Decoder, s *openapi3.Schema, sh *shape, depth int) verdict {
	if !s.Type.Permits(openapi3.TypeObject) {
		return refused
	}
	if _, err := dec.ReadToken(); err != nil {
		return unsure
	}
	var seen uint64
	count := 0
	// others holds the names without a property when they count: for
	// additionalProperties' schema, or for minProperties and maxProperties.
	var others []string
	countOthers := s.MinProps != 0 || s.MaxProps != nil || s.AdditionalProperties.Schema != nil
	for dec.PeekKind() == '"' {
		name, err := dec.ReadValue()
		if err != nil {
			return unsure
		}
		inner := name[1 : len(name)-1]
		if bytes.IndexByte(inner, '\\') >= 0 {
			unquoted, err := jsontext.AppendUnquote(nil, name)
			if err != nil {
				return unsure
			}
			inner = unquoted
		}
		count++
		i, known := sh.index[string(inner)]
		switch {
		case known && seen&(1<<i) != 0:
			return unsure // a name given twice
		case known:
			seen |= 1 << i
		case countOthers:
			for _, o := range others {
				if o == string(inner) {
					return unsure
				}
			}
			others = append(others, string(inner))
		}
		child, kid, v := sh.member(s, i, known)
		if v != accepted {
			return v
		}
		if child == nil {
			if v := w.skip(dec); v != accepted {
				return v
			}
			continue
		}
		if v := w.value(dec, child, kid, nil, false, depth+1); v != accepted {
			return v
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return unsure // not the end of the object
	}
	if n := s.MinProps; n != 0 && uint64(count) < n {
		return refused
	}
	if n := s.MaxProps; n != nil && uint64(count) > *n {
		return refused
	}
	if seen&sh.required != sh.required {
		return refused
	}
	return accepted
}

// array judges an array's items as kin-openapi's visitJSONArray does.
func (w *walking) array(dec *jsontext.Decoder, s *openapi3.Schema, sh *shape, depth int) verdict {
	if !s.Type.Permits(openapi3.TypeArray) {
		return refused
	}
	if _, err := dec.ReadToken(); err != nil {
		return unsure
	}
	var items *openapi3.Schema
	if s.Items != nil {
		items = s.Items.Value
	}
	count := uint64(0)
	var distinct map[string]struct{}
	if s.UniqueItems {
		distinct = map[string]struct{}{}
	}
	for dec.PeekKind() != ']' {
		if dec.PeekKind() == 0 {
			return unsure
		}
		count++
		if s.UniqueItems {
			// kin-openapi compares items by their JSON encoding. Two
			// strings (valid UTF-8, as the tokenizer insists) encode the
			// same when they are the same; other items are left to it.
			if v := w.unique(dec, items, distinct, depth); v != accepted {
				return v
			}
			continue
		}
		if items == nil {
			if v := w.skip(dec); v != accepted {
				return v
			}
			continue
		}
		if v := w.value(dec, items, sh.kid(len(sh.props)+itemsKid, items), nil, false, depth+1); v != accepted {
			return v
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return unsure
	}
	if s.UniqueItems && len(distinct) != int(count) {
		return refused
	}
	if n := s.MinItems; n != 0 && count < n {
		return refused
	}
	if n := s.MaxItems; n != nil && count > *n {
		return refused
	}
	return accepted
}

// unique consumes an item of an array whose items must be unique: a
// string, noted in distinct, and judged against items (when there is a
// schema for them).
func (w *walking) unique(dec *jsontext.Decoder, items *openapi3.Schema, distinct map[string]struct{}, depth int) verdict {
	if dec.PeekKind() != '"' {
		return unsure
	}
	raw, err := dec.ReadValue()
	if err != nil {
		return unsure
	}
	text, err := jsontext.AppendUnquote(nil, raw)
	if err != nil {
		return unsure
	}
	distinct[string(text)] = struct{}{}
	if items == nil {
		return accepted
	}
	// raw stays valid until dec is read again.
	return w.raw(raw, items, nil, false, depth+1)
}

// skip consumes a value the schema leaves free. Its numbers are still
// read: the decoder refuses one a float64 cannot hold (1e400), and so
// must the walk.
//
// The decoder reads the value whole, checking it as it reads every token;
// the numbers are then found in its bytes, outside its strings. Reading it
// token by token was 37 µs of a 10-card carousel's response in a profile
// of SendRCSCarousel/sqlite.
func (w *walking) skip(dec *jsontext.Decoder) verdict {
	raw, err := dec.ReadValue()
	if err != nil {
		return unsure
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '"':
			// To the closing quote; an escape's next byte is never it.
			for i++; raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
		case c == '-' || ('0' <= c && c <= '9'):
			j := i + 1
			for j < len(raw) && strings.IndexByte("0123456789.eE+-", raw[j]) >= 0 {
				j++
			}
			if _, err := number(borrowed(raw[i:j])); err != nil {
				return unsure
			}
			i = j - 1
		}
	}
	return accepted
}

// discriminated is the branch kin-openapi's resolveDiscriminatorRef picks
// for data: "" (every branch) when data is not an object or the mapping
// is empty; refused when the property is missing, is not a string, or is
// a value the mapping does not name. data has no repeated names (applied
// checks that first).
func discriminated(data []byte, d *openapi3.Discriminator) (string, verdict) {
	wd := borrowDecoder(data)
	defer wd.release()
	dec := &wd.dec
	if dec.PeekKind() != '{' {
		return "", accepted
	}
	if _, err := dec.ReadToken(); err != nil {
		return "", unsure
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return "", unsure
		}
		if name.String() != d.PropertyName {
			if dec.SkipValue() != nil {
				return "", unsure
			}
			continue
		}
		if dec.PeekKind() != '"' {
			return "", refused
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return "", unsure
		}
		return mapped(d, tok.String())
	}
	return "", refused // no such property
}

// mapped is the branch d maps the discriminating value name to, as
// kin-openapi resolves it: "" (every branch) without a mapping, refused
// for a name the mapping does not have.
func mapped(d *openapi3.Discriminator, name string) (string, verdict) {
	if len(d.Mapping) == 0 {
		return "", accepted
	}
	m, ok := d.Mapping[name]
	switch {
	case !ok:
		return "", refused
	case m.Ref != "" && !strings.Contains(m.Ref, "/"):
		return "#/components/schemas/" + m.Ref, accepted
	}
	return m.Ref, accepted
}

// member is the schema of an object's member and its shape: its
// property's when it has one (known, i its index), else
// additionalProperties' (nil when any value will do); refused when s
// allows no such member.
func (sh *shape) member(s *openapi3.Schema, i int, known bool) (*openapi3.Schema, *shape, verdict) {
	if known && sh.props[i] != nil {
		return sh.props[i], sh.kid(i, sh.props[i]), accepted
	}
	if has := s.AdditionalProperties.Has; has != nil && !*has {
		return nil, nil, refused
	}
	if ap := s.AdditionalProperties.Schema; ap != nil {
		return ap.Value, sh.kid(len(sh.props)+additionalKid, ap.Value), accepted
	}
	return nil, nil, accepted
}
