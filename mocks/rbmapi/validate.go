package rbmapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// The checks of an AgentMessage, on its decoded JSON, at the level the real
// API checks it: known fields of the right JSON type, enums, the unions
// (exactly one of ...), required fields, and the documented limits. Error
// messages follow Google's: fields are named by their proto path
// ("agent_message.content_message.rich_card...").

// RBM's documented limits.
const (
	maxText            = 3072 // characters of a text message
	maxSuggestions     = 11   // chips under a message
	maxCardSuggestions = 4    // suggestions on a card
	maxSuggestionText  = 25   // characters of a suggestion's text
	maxPostbackData    = 2048 // characters of postbackData
	maxCardTitle       = 200
	maxCardDescription = 2000
	minCarouselCards   = 2
	maxCarouselCards   = 10
)

func invalid(format string, args ...any) error { return fmt.Errorf(format, args...) }

// snake turns a JSON name into its proto name: cardContents -> card_contents.
func snake(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// object is a JSON object at a path.
type object struct {
	m    map[string]any
	path string
}

func (o object) at(key string) string { return o.path + "." + snake(key) }

// only fails on fields other than allowed.
func (o object) only(allowed ...string) error {
	var unknown []string
	for k := range o.m {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return invalid("Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", unknown[0], o.path)
}

// get is a field's value; a JSON null counts as absent, as in proto3 JSON.
func (o object) get(key string) (any, bool) {
	v, ok := o.m[key]
	return v, ok && v != nil
}

func (o object) has(key string) bool { _, ok := o.get(key); return ok }

// oneOf fails unless exactly one of keys is set (or at most one, when
// optional).
func (o object) oneOf(optional bool, keys ...string) (string, error) {
	var set []string
	for _, k := range keys {
		if o.has(k) {
			set = append(set, k)
		}
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = snake(k)
	}
	switch {
	case len(set) == 1:
		return set[0], nil
	case len(set) == 0 && optional:
		return "", nil
	case len(set) == 0:
		return "", invalid("'%s' must set one of %s.", o.path, strings.Join(names, ", "))
	default:
		return "", invalid("'%s' sets more than one of %s: only one is allowed.", o.path, strings.Join(names, ", "))
	}
}

func badValue(path, typ string, v any) error {
	b, _ := json.Marshal(v)
	return invalid("Invalid value at '%s' (%s), %s", path, typ, b)
}

func (o object) obj(key string) (object, error) {
	v, ok := o.m[key].(map[string]any)
	if !ok {
		return object{}, badValue(o.at(key), "TYPE_MESSAGE", o.m[key])
	}
	return object{v, o.at(key)}, nil
}

// str returns a string field; "" when absent.
func (o object) str(key string) (string, error) {
	v, present := o.get(key)
	if !present {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", badValue(o.at(key), "TYPE_STRING", v)
	}
	return s, nil
}

// text checks a string field against required and a limit in characters
// (0 for none).
func (o object) text(key string, required bool, limit int) (string, error) {
	s, err := o.str(key)
	if err != nil {
		return "", err
	}
	if s == "" && required {
		return "", invalid("Required field '%s' is missing or empty.", o.at(key))
	}
	if limit > 0 && utf8.RuneCountInString(s) > limit {
		return "", invalid("'%s' is too long: %d characters, maximum %d.", o.at(key), utf8.RuneCountInString(s), limit)
	}
	return s, nil
}

func (o object) enum(key string, required bool, typ string, values ...string) error {
	s, err := o.str(key)
	if err != nil {
		return err
	}
	if s == "" {
		if required {
			return invalid("Required field '%s' is missing.", o.at(key))
		}
		return nil
	}
	if !slices.Contains(values, s) {
		return badValue(o.at(key), "type.googleapis.com/google.rcs.businessmessaging.v1."+typ, s)
	}
	return nil
}

func (o object) url(key string, required bool) error {
	s, err := o.text(key, required, 0)
	if err != nil || s == "" {
		return err
	}
	u, perr := url.Parse(s)
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("'%s' must be an http or https URL, got %q.", o.at(key), s)
	}
	return nil
}

func (o object) number(key string, lo, hi float64) error {
	v, present := o.get(key)
	if !present {
		return nil // proto3 default 0
	}
	f, ok := v.(float64)
	if !ok {
		return badValue(o.at(key), "TYPE_DOUBLE", v)
	}
	if f < lo || f > hi {
		return invalid("'%s' must be between %v and %v, got %v.", o.at(key), lo, hi, f)
	}
	return nil
}

// objects returns an array field's elements, checking its length.
func (o object) objects(key string, lo, hi int) ([]object, error) {
	v, present := o.get(key)
	if !present {
		v = []any{}
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, badValue(o.at(key), "TYPE_MESSAGE", v)
	}
	if len(arr) < lo || len(arr) > hi {
		if lo == 0 {
			return nil, invalid("'%s' has %d elements, maximum %d.", o.at(key), len(arr), hi)
		}
		return nil, invalid("'%s' has %d elements: it must have between %d and %d.", o.at(key), len(arr), lo, hi)
	}
	out := make([]object, len(arr))
	for i, e := range arr {
		m, ok := e.(map[string]any)
		path := fmt.Sprintf("%s[%d]", o.at(key), i)
		if !ok {
			return nil, badValue(path, "TYPE_MESSAGE", e)
		}
		out[i] = object{m, path}
	}
	return out, nil
}

func validateAgentMessage(body map[string]any) error {
	am := object{body, "agent_message"}
	// name and sendTime are output only: the real API ignores them.
	if err := am.only("name", "sendTime", "contentMessage", "messageTrafficType", "expireTime", "ttl"); err != nil {
		return err
	}
	if _, err := am.oneOf(true, "expireTime", "ttl"); err != nil {
		return err
	}
	for _, k := range []string{"name", "sendTime", "expireTime", "ttl"} {
		if _, err := am.str(k); err != nil {
			return err
		}
	}
	if err := am.enum("messageTrafficType", false, "MessageTrafficType",
		"MESSAGE_TRAFFIC_TYPE_UNSPECIFIED", "AUTHENTICATION", "TRANSACTION", "PROMOTION", "SERVICEREQUEST", "ACKNOWLEDGEMENT"); err != nil {
		return err
	}
	if !am.has("contentMessage") {
		return invalid("Required field '%s' is missing.", am.at("contentMessage"))
	}
	cm, err := am.obj("contentMessage")
	if err != nil {
		return err
	}
	return validateContentMessage(cm)
}

func validateContentMessage(cm object) error {
	if err := cm.only("text", "fileName", "uploadedRbmFile", "richCard", "contentInfo", "suggestions"); err != nil {
		return err
	}
	kind, err := cm.oneOf(false, "text", "fileName", "uploadedRbmFile", "richCard", "contentInfo")
	if err != nil {
		return err
	}
	switch kind {
	case "text":
		if _, err := cm.text("text", true, maxText); err != nil {
			return err
		}
	case "fileName":
		if _, err := cm.text("fileName", true, 0); err != nil {
			return err
		}
	case "uploadedRbmFile":
		f, err := cm.obj("uploadedRbmFile")
		if err != nil {
			return err
		}
		if err := validateUploadedFile(f); err != nil {
			return err
		}
	case "richCard":
		rc, err := cm.obj("richCard")
		if err != nil {
			return err
		}
		if err := validateRichCard(rc); err != nil {
			return err
		}
	case "contentInfo":
		ci, err := cm.obj("contentInfo")
		if err != nil {
			return err
		}
		if err := validateContentInfo(ci); err != nil {
			return err
		}
	}
	if cm.has("suggestions") {
		if kind != "text" {
			return invalid("'%s' is only allowed with a text message; rich cards carry their suggestions in their card content.", cm.at("suggestions"))
		}
		sugs, err := cm.objects("suggestions", 0, maxSuggestions)
		if err != nil {
			return err
		}
		for _, s := range sugs {
			if err := validateSuggestion(s); err != nil {
				return err
			}
		}
	}
	return nil
}

func validateUploadedFile(f object) error {
	if err := f.only("fileName", "thumbnailName"); err != nil {
		return err
	}
	if _, err := f.text("fileName", true, 0); err != nil {
		return err
	}
	_, err := f.str("thumbnailName")
	return err
}

func validateContentInfo(ci object) error {
	if err := ci.only("fileUrl", "thumbnailUrl", "forceRefresh"); err != nil {
		return err
	}
	if err := ci.url("fileUrl", true); err != nil {
		return err
	}
	if err := ci.url("thumbnailUrl", false); err != nil {
		return err
	}
	if v, ok := ci.get("forceRefresh"); ok {
		if _, isBool := v.(bool); !isBool {
			return badValue(ci.at("forceRefresh"), "TYPE_BOOL", v)
		}
	}
	return nil
}

func validateRichCard(rc object) error {
	if err := rc.only("standaloneCard", "carouselCard"); err != nil {
		return err
	}
	kind, err := rc.oneOf(false, "standaloneCard", "carouselCard")
	if err != nil {
		return err
	}
	if kind == "standaloneCard" {
		sc, err := rc.obj("standaloneCard")
		if err != nil {
			return err
		}
		if err := sc.only("cardOrientation", "thumbnailImageAlignment", "cardContent"); err != nil {
			return err
		}
		if err := sc.enum("cardOrientation", true, "StandaloneCard.CardOrientation", "HORIZONTAL", "VERTICAL"); err != nil {
			return err
		}
		if err := sc.enum("thumbnailImageAlignment", false, "StandaloneCard.ThumbnailImageAlignment", "LEFT", "RIGHT"); err != nil {
			return err
		}
		if !sc.has("cardContent") {
			return invalid("Required field '%s' is missing.", sc.at("cardContent"))
		}
		cc, err := sc.obj("cardContent")
		if err != nil {
			return err
		}
		return validateCardContent(cc)
	}

	cc, err := rc.obj("carouselCard")
	if err != nil {
		return err
	}
	if err := cc.only("cardWidth", "cardContents"); err != nil {
		return err
	}
	if err := cc.enum("cardWidth", true, "CarouselCard.CardWidth", "SMALL", "MEDIUM"); err != nil {
		return err
	}
	cards, err := cc.objects("cardContents", minCarouselCards, maxCarouselCards)
	if err != nil {
		return err
	}
	for _, c := range cards {
		if err := validateCardContent(c); err != nil {
			return err
		}
	}
	return nil
}

func validateCardContent(cc object) error {
	if err := cc.only("title", "description", "media", "suggestions"); err != nil {
		return err
	}
	title, err := cc.text("title", false, maxCardTitle)
	if err != nil {
		return err
	}
	desc, err := cc.text("description", false, maxCardDescription)
	if err != nil {
		return err
	}
	if title == "" && desc == "" && !cc.has("media") {
		return invalid("'%s' must have at least one of title, description, media.", cc.path)
	}
	if cc.has("media") {
		m, err := cc.obj("media")
		if err != nil {
			return err
		}
		if err := validateMedia(m); err != nil {
			return err
		}
	}
	sugs, err := cc.objects("suggestions", 0, maxCardSuggestions)
	if err != nil {
		return err
	}
	for _, s := range sugs {
		if err := validateSuggestion(s); err != nil {
			return err
		}
	}
	return nil
}

func validateMedia(m object) error {
	if err := m.only("height", "fileName", "uploadedRbmFile", "contentInfo"); err != nil {
		return err
	}
	if err := m.enum("height", true, "Media.Height", "SHORT", "MEDIUM", "TALL"); err != nil {
		return err
	}
	kind, err := m.oneOf(false, "fileName", "uploadedRbmFile", "contentInfo")
	if err != nil {
		return err
	}
	switch kind {
	case "fileName":
		_, err = m.text("fileName", true, 0)
		return err
	case "uploadedRbmFile":
		f, err := m.obj("uploadedRbmFile")
		if err != nil {
			return err
		}
		return validateUploadedFile(f)
	default:
		ci, err := m.obj("contentInfo")
		if err != nil {
			return err
		}
		return validateContentInfo(ci)
	}
}

func validateSuggestion(s object) error {
	if err := s.only("reply", "action"); err != nil {
		return err
	}
	kind, err := s.oneOf(false, "reply", "action")
	if err != nil {
		return err
	}
	if kind == "reply" {
		r, err := s.obj("reply")
		if err != nil {
			return err
		}
		if err := r.only("text", "postbackData"); err != nil {
			return err
		}
		if _, err := r.text("text", true, maxSuggestionText); err != nil {
			return err
		}
		_, err = r.text("postbackData", false, maxPostbackData)
		return err
	}

	a, err := s.obj("action")
	if err != nil {
		return err
	}
	actions := []string{"dialAction", "viewLocationAction", "createCalendarEventAction", "openUrlAction", "shareLocationAction"}
	if err := a.only(append([]string{"text", "postbackData", "fallbackUrl"}, actions...)...); err != nil {
		return err
	}
	if _, err := a.text("text", true, maxSuggestionText); err != nil {
		return err
	}
	if _, err := a.text("postbackData", false, maxPostbackData); err != nil {
		return err
	}
	if err := a.url("fallbackUrl", false); err != nil {
		return err
	}
	kind, err = a.oneOf(false, actions...)
	if err != nil {
		return err
	}
	act, err := a.obj(kind)
	if err != nil {
		return err
	}
	switch kind {
	case "dialAction":
		if err := act.only("phoneNumber"); err != nil {
			return err
		}
		n, err := act.text("phoneNumber", true, 0)
		if err != nil {
			return err
		}
		if !validMSISDN(n) {
			return invalid("'%s' must be in E.164 format, e.g. +12223334444; got %q.", act.at("phoneNumber"), n)
		}
	case "openUrlAction":
		if err := act.only("url", "application", "webviewViewMode", "description"); err != nil {
			return err
		}
		if err := act.url("url", true); err != nil {
			return err
		}
		if err := act.enum("application", false, "OpenUrlApplication", "OPEN_URL_APPLICATION_UNSPECIFIED", "BROWSER", "WEBVIEW"); err != nil {
			return err
		}
		if err := act.enum("webviewViewMode", false, "WebviewViewMode", "WEBVIEW_VIEW_MODE_UNSPECIFIED", "FULL", "HALF", "TALL"); err != nil {
			return err
		}
		if _, err := act.str("description"); err != nil {
			return err
		}
	case "viewLocationAction":
		if err := act.only("latLong", "label", "query"); err != nil {
			return err
		}
		if _, err := act.str("label"); err != nil {
			return err
		}
		query, err := act.str("query")
		if err != nil {
			return err
		}
		if !act.has("latLong") && query == "" {
			return invalid("'%s' must set lat_long or query.", act.path)
		}
		if act.has("latLong") {
			ll, err := act.obj("latLong")
			if err != nil {
				return err
			}
			if err := ll.only("latitude", "longitude"); err != nil {
				return err
			}
			if err := ll.number("latitude", -90, 90); err != nil {
				return err
			}
			if err := ll.number("longitude", -180, 180); err != nil {
				return err
			}
		}
	case "createCalendarEventAction":
		if err := act.only("startTime", "endTime", "title", "description"); err != nil {
			return err
		}
		for _, k := range []string{"startTime", "endTime", "title"} {
			if _, err := act.text(k, true, 0); err != nil {
				return err
			}
		}
		if _, err := act.str("description"); err != nil {
			return err
		}
	case "shareLocationAction":
		if err := act.only(); err != nil {
			return err
		}
	}
	return nil
}
