package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/contract"
)

const (
	headerIdempotencyKey      = "Idempotency-Key"
	headerIdempotentReplayed  = "Idempotent-Replayed"
	maxIdempotencyKeyLength   = 255
	retryAfterIdempotencyBusy = 1 // seconds
)

// idempotency makes a POST with an Idempotency-Key run once: the first
// request with a key runs and its answer is kept with the key for
// impl.IdempotencyTTL; a repeat of the same request gets that answer again,
// marked Idempotent-Replayed; the same key for another request is
// idempotency_key_reused; a repeat while the first runs is
// idempotency_in_progress. It sits behind request validation, so an invalid
// request is answered, and not remembered, as any other.
func (s *Server) idempotency(next echo.HandlerFunc) echo.HandlerFunc {
	if s.cfg.Idempotency == nil {
		return next
	}
	return func(c echo.Context) error {
		req := c.Request()
		if req.Method != http.MethodPost {
			return next(c)
		}
		values := req.Header.Values(headerIdempotencyKey)
		if len(values) == 0 {
			return next(c)
		}
		key, err := idempotencyKey(values)
		if err != nil {
			return err
		}
		body, err := requestBytes(req)
		if err != nil {
			return err
		}
		ctx := req.Context()
		org := orgID(ctx)
		now := s.now()
		fp := impl.IdempotencyFingerprint(req.Method, req.URL.RequestURI(), body)
		rec, claimed, err := s.cfg.Idempotency.BeginIdempotent(ctx, org, key, fp, now, now.Add(s.cfg.IdempotencyLease))
		if err != nil {
			return err
		}
		if !claimed {
			return s.answerKnownKey(c, rec, fp, now)
		}
		c.SetRequest(req.WithContext(impl.WithIdempotencyKey(ctx, key)))
		res := c.Response()
		tee := &teeWriter{ResponseWriter: res.Writer}
		res.Writer = tee
		err = next(c)
		if err != nil {
			c.Error(err) // written here, through the tee, to be kept
		}
		res.Writer = tee.ResponseWriter
		s.keepAnswer(ctx, rec, res.Status, res.Header(), tee.body.Bytes())
		return nil
	}
}

// idempotencyKey is the one key the request sends. The spec's schema checks
// its shape; these checks hold with request validation off too.
func idempotencyKey(values []string) (string, error) {
	bad := func(en, pt string) error {
		return impl.Errorf(impl.EBadRequest, "The request has invalid parameters.").
			WithDetailText(headerIdempotencyKey, impl.Text{En: en, PtBR: "O cabeçalho " + headerIdempotencyKey + " " + pt})
	}
	switch {
	case len(values) > 1:
		return "", bad("must be sent once", "deve ser enviado uma única vez.")
	case values[0] == "":
		return "", bad("must not be empty", "não pode ficar vazio.")
	case len(values[0]) > maxIdempotencyKeyLength:
		return "", bad("must be at most "+strconv.Itoa(maxIdempotencyKeyLength)+" characters",
			"deve ter no máximo "+strconv.Itoa(maxIdempotencyKeyLength)+" caracteres.")
	}
	return values[0], nil
}

// answerKnownKey answers a request whose key belongs to an earlier one.
func (s *Server) answerKnownKey(c echo.Context, rec *impl.IdempotencyRecord, fp []byte, now time.Time) error {
	switch rec.Decide(fp, now) {
	case impl.IdempotencyReused:
		return impl.Errorf(impl.EIdempotencyKeyReused,
			"This Idempotency-Key was already used with a different request. Use a new key for a new request.").
			WithDetailText(headerIdempotencyKey, impl.Text{En: "was used with a different request",
				PtBR: "O cabeçalho " + headerIdempotencyKey + " já foi usado com outro pedido."})
	case impl.IdempotencyInProgress:
		c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterIdempotencyBusy))
		return impl.Errorf(impl.EIdempotencyInProgress,
			"A request with this Idempotency-Key is still being processed. Retry after %d second.", retryAfterIdempotencyBusy)
	}
	h := c.Response().Header()
	h.Set(headerIdempotentReplayed, "true")
	if rec.Location != "" {
		h.Set("Location", rec.Location)
	}
	if rec.ETag != "" {
		h.Set("ETag", rec.ETag)
	}
	return c.Blob(rec.Status, rec.ContentType, rec.Body)
}

// keepAnswer stores what the claimed request answered, or gives the key up
// when the answer says the request could not run (503): a retry should run
// it then, not replay the outage. Then, unless the database just failed the
// request or this, it sweeps a batch of the organization's expired keys. It
// has a deadline of its own, since the request's may be spent.
func (s *Server) keepAnswer(ctx context.Context, rec *impl.IdempotencyRecord, status int, h http.Header, body []byte) {
	ctx = context.WithoutCancel(ctx)
	if s.cfg.DBTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.DBTimeout)
		defer cancel()
	}
	var err error
	if status == http.StatusServiceUnavailable {
		err = s.cfg.Idempotency.ReleaseIdempotent(ctx, rec.OrganizationID, rec.Key)
	} else {
		rec.Status, rec.ContentType, rec.Location, rec.ETag, rec.Body = status, h.Get("Content-Type"), h.Get("Location"), h.Get("ETag"), body
		err = s.cfg.Idempotency.FinishIdempotent(ctx, rec)
	}
	if err != nil {
		// Retried in the background while the lease lasts (RetryKeeps);
		// past it, a retry runs the request again, and what it stored (a
		// message sent, a lead, a webhook, a key) is found, not done twice.
		logger(ctx).Error("keep idempotent answer", "err", err.Error())
		s.queueKeep(ctx, pendingKeep{rec: rec, release: status == http.StatusServiceUnavailable})
	}
	if status == http.StatusServiceUnavailable || err != nil {
		return // the database is struggling: housekeeping can wait for a request that went well
	}
	// Housekeeping, after the claim's transaction and with the answer kept:
	// a sweep that fails or runs out of time costs nothing but a log line.
	if _, err := s.cfg.Idempotency.SweepIdempotent(ctx, rec.OrganizationID, s.now().Add(-impl.IdempotencyTTL)); err != nil {
		logger(ctx).Warn("sweep expired idempotency keys", "err", err.Error())
	}
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// teeWriter passes a response on and keeps a copy of its body.
type teeWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *teeWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// requestBytes is req's body as sent. A body the Validator passed
// (contract.ValidatedBytes) is left as it is, for the handler to bind what
// was validated; any other is read, and replaced with a reader of what was
// read.
func requestBytes(req *http.Request) ([]byte, error) {
	if vb, ok := req.Body.(contract.ValidatedBytes); ok {
		return vb.ValidatedBytes(), nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// doneEarlier turns a store's impl.ErrDoneEarlier into the value of the
// answer's Idempotent-Replayed header: the store has filled in what the
// request's first try stored, and that is the answer. Any other error is
// returned as it is.
func doneEarlier(err error) (*string, error) {
	if !errors.Is(err, impl.ErrDoneEarlier) {
		return nil, err
	}
	yes := "true"
	return &yes, nil
}
