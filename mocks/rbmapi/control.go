package rbmapi

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// The control API: what the Go methods do, over HTTP, for a fake run as a
// process (iagente-mock rbm), under /_rbm/. It has no authentication: a
// fake is meant to listen on localhost.
const controlPrefix = "/_rbm"

func (s *Server) controlAPI(mux *http.ServeMux) {
	p := controlPrefix
	mux.HandleFunc("GET "+p+"/requests", s.controlRequests)
	mux.HandleFunc("GET "+p+"/pushes", s.controlPushes)
	mux.HandleFunc("POST "+p+"/reset", func(w http.ResponseWriter, _ *http.Request) { s.Reset(); controlOK(w) })
	mux.HandleFunc("POST "+p+"/webhook", s.controlWebhook)
	mux.HandleFunc("POST "+p+"/receipts", s.controlReceipts)
	mux.HandleFunc("POST "+p+"/rate-limit", s.controlRateLimit)
	mux.HandleFunc("POST "+p+"/unreachable", s.controlUnreachable)
	mux.HandleFunc("POST "+p+"/user-messages", s.controlUserMessage)
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusNotFound, map[string]string{"error": "no control endpoint " + r.Method + " " + r.URL.Path})
	})
}

func controlOK(w http.ResponseWriter) { writeControl(w, http.StatusOK, map[string]bool{"ok": true}) }

func writeControl(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func controlBadRequest(w http.ResponseWriter, msg string) {
	writeControl(w, http.StatusBadRequest, map[string]string{"error": msg})
}

// decodeStrict reads a small JSON body and refuses unknown fields, so that
// a misspelt setting is an error rather than silently ignored.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		controlBadRequest(w, "body: "+err.Error())
		return false
	}
	return true
}

// controlRequests lists the requests, without their headers: the
// Authorization header is the caller's token.
func (s *Server) controlRequests(w http.ResponseWriter, _ *http.Request) {
	type requestJSON struct {
		Method     string          `json:"method"`
		RequestURI string          `json:"request_uri"`
		Body       json.RawMessage `json:"body,omitempty"`
	}
	reqs := s.Requests()
	out := make([]requestJSON, len(reqs))
	for i, r := range reqs {
		out[i] = requestJSON{Method: r.Method, RequestURI: r.RequestURI}
		if json.Valid(r.Body) {
			out[i].Body = r.Body
		}
	}
	writeControl(w, http.StatusOK, out)
}

func (s *Server) controlPushes(w http.ResponseWriter, _ *http.Request) {
	type pushJSON struct {
		Event  json.RawMessage `json:"event"`
		URL    string          `json:"url"`
		At     time.Time       `json:"at"`
		Status int             `json:"status"`
		Error  string          `json:"error,omitempty"`
	}
	ps := s.Pushes()
	out := make([]pushJSON, len(ps))
	for i, p := range ps {
		out[i] = pushJSON{Event: p.Event, URL: p.URL, At: p.At, Status: p.Status, Error: p.Err}
	}
	writeControl(w, http.StatusOK, out)
}

func (s *Server) controlWebhook(w http.ResponseWriter, r *http.Request) {
	var in struct {
		URL         string `json:"url"`
		ClientToken string `json:"client_token"`
	}
	if !decodeStrict(w, r, &in) {
		return
	}
	if in.URL != "" && in.ClientToken == "" {
		controlBadRequest(w, "client_token is required with a url: RBM signs every event")
		return
	}
	s.SetWebhook(in.URL, in.ClientToken)
	controlOK(w)
}

func (s *Server) controlReceipts(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Events []string `json:"events"`
	}
	if !decodeStrict(w, r, &in) {
		return
	}
	s.SetReceipts(in.Events)
	controlOK(w)
}

func (s *Server) controlRateLimit(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PerSecond int `json:"per_second"`
	}
	if !decodeStrict(w, r, &in) {
		return
	}
	s.SetRateLimit(in.PerSecond)
	controlOK(w)
}

func (s *Server) controlUnreachable(w http.ResponseWriter, r *http.Request) {
	var in struct {
		MSISDN string `json:"msisdn"`
	}
	if !decodeStrict(w, r, &in) {
		return
	}
	if !validMSISDN(in.MSISDN) {
		controlBadRequest(w, "msisdn must be + and digits")
		return
	}
	s.SetUnreachable(in.MSISDN)
	controlOK(w)
}

// controlUserMessage has a user write to the agent, a text or a tapped
// suggestion, posted to the webhook.
func (s *Server) controlUserMessage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AgentID    string `json:"agent_id"`
		From       string `json:"from"`
		Text       string `json:"text"`
		Suggestion *struct {
			Type         string `json:"type"`
			Text         string `json:"text"`
			PostbackData string `json:"postback_data"`
		} `json:"suggestion"`
	}
	if !decodeStrict(w, r, &in) {
		return
	}
	if in.AgentID == "" || !validMSISDN(in.From) || (in.Text == "") == (in.Suggestion == nil) {
		controlBadRequest(w, "agent_id, from (+ and digits) and one of text and suggestion are required")
		return
	}
	var status int
	var err error
	if in.Suggestion != nil {
		kind := in.Suggestion.Type
		if kind == "" {
			kind = "REPLY"
		}
		status, err = s.UserTaps(r.Context(), in.AgentID, in.From, kind, in.Suggestion.Text, in.Suggestion.PostbackData)
	} else {
		status, err = s.UserText(r.Context(), in.AgentID, in.From, in.Text)
	}
	if err != nil {
		writeControl(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	}
	writeControl(w, http.StatusOK, map[string]int{"webhook_status": status})
}
