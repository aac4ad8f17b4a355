package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/iagente/iagente-sdr/impl"
)

// jsonAnswer is the 200 answer of a read that has an ETag and takes
// If-None-Match, or its 304. The body is encoded as the generated answers
// encode theirs; the reads of leads give the encoding-only types of package
// wire (wire.LeadJSON): the generated answers' bytes, encoded in less than
// half the time (25 leads a page). etag is the resource's own (a lead's),
// known before encoding; without one, the page's tag is the digest of the
// body's bytes. As the generated answers do, it sets the content type and
// the status; the X-RateLimit-* headers are the rateLimit middleware's.
type jsonAnswer struct {
	body        any
	etag        string
	ifNoneMatch *string
}

func (r jsonAnswer) write(w http.ResponseWriter) error {
	if r.etag != "" && r.notModified(w, r.etag) {
		return nil
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(r.body); err != nil {
		return err
	}
	tag := r.etag
	if tag == "" {
		if tag = impl.DigestETag(buf.Bytes()); r.notModified(w, tag) {
			return nil
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("ETag", tag)
	w.WriteHeader(http.StatusOK)
	_, err := buf.WriteTo(w)
	return err
}

// notModified answers 304 with the tag when If-None-Match names it.
func (r jsonAnswer) notModified(w http.ResponseWriter, tag string) bool {
	if r.ifNoneMatch == nil || !impl.MatchesIfNoneMatch(*r.ifNoneMatch, tag) {
		return false
	}
	w.Header().Set("ETag", tag)
	w.WriteHeader(http.StatusNotModified)
	return true
}

func (r jsonAnswer) VisitGetLeadResponse(w http.ResponseWriter) error      { return r.write(w) }
func (r jsonAnswer) VisitListLeadsResponse(w http.ResponseWriter) error    { return r.write(w) }
func (r jsonAnswer) VisitListMessagesResponse(w http.ResponseWriter) error { return r.write(w) }
func (r jsonAnswer) VisitGetMessageResponse(w http.ResponseWriter) error   { return r.write(w) }
func (r jsonAnswer) VisitListHandoffsResponse(w http.ResponseWriter) error { return r.write(w) }
func (r jsonAnswer) VisitGetHandoffResponse(w http.ResponseWriter) error   { return r.write(w) }
func (r jsonAnswer) VisitGetWebhookResponse(w http.ResponseWriter) error   { return r.write(w) }
func (r jsonAnswer) VisitListWebhooksResponse(w http.ResponseWriter) error { return r.write(w) }
func (r jsonAnswer) VisitListWebhookDeliveriesResponse(w http.ResponseWriter) error {
	return r.write(w)
}
