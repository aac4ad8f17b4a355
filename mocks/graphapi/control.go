package graphapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The control API: everything the Go methods do, over HTTP, for a fake run
// as a process (iagente-mock whatsapp), under /_graphapi/. It has no
// authentication: a fake is meant to listen on localhost.
const controlPrefix = "/_graphapi"

func (s *Server) newControlAPI() *http.ServeMux {
	mux := http.NewServeMux()
	p := controlPrefix
	mux.HandleFunc("GET "+p+"/requests", s.controlRequests)
	mux.HandleFunc("GET "+p+"/callbacks", s.controlCallbacks)
	mux.HandleFunc("POST "+p+"/reset", func(w http.ResponseWriter, _ *http.Request) { s.Reset(); ok(w) })
	mux.HandleFunc("POST "+p+"/callback", s.controlCallback)
	mux.HandleFunc("POST "+p+"/statuses", s.controlStatuses)
	mux.HandleFunc("POST "+p+"/fail", s.controlFail)
	mux.HandleFunc("POST "+p+"/delay", s.controlDelay)
	mux.HandleFunc("POST "+p+"/throughput", s.controlThroughput)
	mux.HandleFunc("POST "+p+"/window", s.controlWindow)
	mux.HandleFunc("POST "+p+"/inbound", s.controlInbound)
	mux.HandleFunc("PUT "+p+"/templates/{waba_id}", s.controlSetTemplates)
	mux.HandleFunc("GET "+p+"/templates/{waba_id}", s.controlTemplates)
	mux.HandleFunc("POST "+p+"/templates/{waba_id}/paging", s.controlPaging)
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		controlError(w, http.StatusNotFound, "no control endpoint "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func ok(w http.ResponseWriter) { writeControl(w, http.StatusOK, map[string]bool{"ok": true}) }

func writeControl(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeControl(w, status, map[string]string{"error": msg})
}

// decode reads a small JSON body and refuses unknown fields, so that a
// misspelt setting is an error rather than silently ignored.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		controlError(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	return true
}

func millis(ms int64) (time.Duration, error) {
	if ms < 0 || ms > (24*time.Hour).Milliseconds() {
		return 0, fmt.Errorf("delay_ms must be from 0 to %d (a day)", (24 * time.Hour).Milliseconds())
	}
	return time.Duration(ms) * time.Millisecond, nil
}

type requestJSON struct {
	Method    string          `json:"method"`
	Path      string          `json:"path"`
	Query     string          `json:"query"`
	Status    int             `json:"status"`
	MessageID string          `json:"message_id"`
	Body      json.RawMessage `json:"body,omitempty"`
	At        time.Time       `json:"at"`
}

// controlRequests lists the requests received, without their headers: the
// Authorization header is the caller's token.
func (s *Server) controlRequests(w http.ResponseWriter, _ *http.Request) {
	reqs := s.Requests()
	out := make([]requestJSON, len(reqs))
	for i, r := range reqs {
		out[i] = requestJSON{Method: r.Method, Path: r.Path, Query: r.Query.Encode(), Status: r.Status, MessageID: r.MessageID, At: r.Time}
		if json.Valid(r.Body) {
			out[i].Body = r.Body
		}
	}
	writeControl(w, http.StatusOK, out)
}

type callbackJSON struct {
	Kind      string          `json:"kind"`
	State     string          `json:"state,omitempty"`
	WAMID     string          `json:"wamid"`
	Reference string          `json:"reference,omitempty"`
	URL       string          `json:"url"`
	Body      json.RawMessage `json:"body"`
	At        time.Time       `json:"at"`
	Status    int             `json:"status"`
	Error     string          `json:"error,omitempty"`
}

func (s *Server) controlCallbacks(w http.ResponseWriter, _ *http.Request) {
	cbs := s.Callbacks()
	out := make([]callbackJSON, len(cbs))
	for i, c := range cbs {
		out[i] = callbackJSON{Kind: c.Kind, State: c.State, WAMID: c.WAMID, Reference: c.Reference, URL: c.URL,
			Body: c.Body, At: c.At, Status: c.Status, Error: c.Err}
	}
	writeControl(w, http.StatusOK, out)
}

func (s *Server) controlCallback(w http.ResponseWriter, r *http.Request) {
	var in struct {
		URL       string `json:"url"`
		AppSecret string `json:"app_secret"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.URL != "" && in.AppSecret == "" {
		controlError(w, http.StatusBadRequest, "app_secret is required with a url: Meta signs every webhook")
		return
	}
	s.SetCallback(in.URL, in.AppSecret)
	ok(w)
}

type errorJSON struct {
	Code    int    `json:"code"`
	Title   string `json:"title"`
	Message string `json:"message"`
	Details string `json:"details"`
}

func (s *Server) controlStatuses(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Steps   []string   `json:"steps"`
		DelayMS int64      `json:"delay_ms"`
		Error   *errorJSON `json:"error"`
	}
	if !decode(w, r, &in) {
		return
	}
	d, err := millis(in.DelayMS)
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	sc := StatusScript{Steps: in.Steps, Delay: d}
	if in.Error != nil {
		sc.Error = Error(*in.Error)
	}
	s.SetStatusScript(sc)
	ok(w)
}

func (s *Server) controlFail(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Times  int             `json:"times"`
		Status int             `json:"status"`
		Body   json.RawMessage `json:"body"`
		Text   string          `json:"text"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Times < 1 || in.Status < 100 || in.Status > 599 {
		controlError(w, http.StatusBadRequest, "times must be 1 or more and status an HTTP status")
		return
	}
	body := []byte(in.Text)
	if len(in.Body) > 0 {
		body = in.Body
	}
	s.FailNext(in.Times, in.Status, body)
	ok(w)
}

func (s *Server) controlDelay(w http.ResponseWriter, r *http.Request) {
	var in struct {
		DelayMS int64 `json:"delay_ms"`
	}
	if !decode(w, r, &in) {
		return
	}
	d, err := millis(in.DelayMS)
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.SetDelay(d)
	ok(w)
}

func (s *Server) controlThroughput(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PerSecond int `json:"per_second"`
	}
	if !decode(w, r, &in) {
		return
	}
	s.SetThroughput(in.PerSecond)
	ok(w)
}

func (s *Server) controlWindow(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Enforce bool `json:"enforce"`
	}
	if !decode(w, r, &in) {
		return
	}
	s.SetWindowEnforced(in.Enforce)
	ok(w)
}

// controlInbound has a contact write: the fake opens their window and
// posts Meta's inbound webhook to the callback URL.
func (s *Server) controlInbound(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PhoneNumberID string `json:"phone_number_id"`
		From          string `json:"from"`
		Name          string `json:"name"`
		Text          string `json:"text"`
		Timestamp     int64  `json:"timestamp"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.PhoneNumberID == "" || in.From == "" || digits(in.From) != in.From || in.Text == "" {
		controlError(w, http.StatusBadRequest, "phone_number_id, from (digits) and text are required")
		return
	}
	when := s.now()
	if in.Timestamp > 0 {
		when = time.Unix(in.Timestamp, 0)
	}
	wamid := s.newMessageID()
	status, err := s.PushInboundText(r.Context(), in.PhoneNumberID, in.From, in.Name, wamid, in.Text, when)
	if err != nil {
		controlError(w, http.StatusConflict, err.Error())
		return
	}
	writeControl(w, http.StatusOK, map[string]any{"wamid": wamid, "callback_status": status})
}

func (s *Server) controlSetTemplates(w http.ResponseWriter, r *http.Request) {
	var ts []Template
	if !decode(w, r, &ts) {
		return
	}
	s.SetTemplates(r.PathValue("waba_id"), ts)
	ok(w)
}

func (s *Server) controlTemplates(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ts := s.templates[r.PathValue("waba_id")]
	s.mu.Unlock()
	if ts == nil {
		ts = []Template{}
	}
	writeControl(w, http.StatusOK, ts)
}

func (s *Server) controlPaging(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PageSize int  `json:"page_size"`
		Endless  bool `json:"endless"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.PageSize < 0 {
		controlError(w, http.StatusBadRequest, "page_size must be 0 or more")
		return
	}
	s.SetPaging(r.PathValue("waba_id"), Paging(in))
	ok(w)
}
