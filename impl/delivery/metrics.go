package delivery

import (
	"io"

	"github.com/VictoriaMetrics/metrics"

	"github.com/iagente/iagente-sdr/impl"
)

// dispatchMetrics are the dispatcher's series in /metrics: its attempts
// by outcome, how long they took, how long deliveries waited past the
// moment they fell due (for a first attempt, the time from the event's
// commit to its send), and the rounds that failed against the database.
type dispatchMetrics struct {
	set       *metrics.Set
	outcomes  map[string]*metrics.Counter
	abandoned *metrics.Counter
	duration  *metrics.PrometheusHistogram
	lag       *metrics.PrometheusHistogram

	claimFailures, recordFailures, releaseFailures *metrics.Counter
}

var (
	// attemptBuckets bound an attempt's duration, in seconds, up to
	// WEBHOOK_TIMEOUT's default and past it.
	attemptBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// lagBuckets bound the wait between falling due and being sent: a few
	// milliseconds when the dispatcher keeps up, up to hours behind a
	// backlog.
	lagBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}
)

func newDispatchMetrics() *dispatchMetrics {
	s := metrics.NewSet()
	m := &dispatchMetrics{set: s, outcomes: map[string]*metrics.Counter{}}
	for _, o := range []string{impl.OutcomeSucceeded, impl.OutcomeRetry, impl.OutcomeFailed, impl.OutcomeGone} {
		m.outcomes[o] = s.NewCounter(`iagente_webhook_attempts_total{outcome="` + o + `"}`)
	}
	m.abandoned = s.NewCounter(`iagente_webhook_attempts_total{outcome="abandoned"}`)
	m.duration = s.NewPrometheusHistogramExt("iagente_webhook_attempt_duration_seconds", attemptBuckets)
	m.lag = s.NewPrometheusHistogramExt("iagente_webhook_delivery_lag_seconds", lagBuckets)
	m.claimFailures = s.NewCounter(`iagente_webhook_dispatcher_failures_total{round="claim"}`)
	m.recordFailures = s.NewCounter(`iagente_webhook_dispatcher_failures_total{round="record"}`)
	m.releaseFailures = s.NewCounter(`iagente_webhook_dispatcher_failures_total{round="release"}`)
	return m
}

// attempted counts the attempt rec of c, or its abandonment.
func (m *dispatchMetrics) attempted(c *impl.ClaimedDelivery, rec impl.AttemptRecord, abandoned bool) {
	if !c.Due.IsZero() && !rec.AttemptedAt.IsZero() {
		m.lag.Update(max(0, rec.AttemptedAt.Sub(c.Due)).Seconds())
	}
	if abandoned {
		m.abandoned.Inc()
		return
	}
	if o := m.outcomes[rec.Outcome]; o != nil {
		o.Inc()
	}
	m.duration.Update(float64(rec.DurationMS) / 1000)
}

// WriteMetrics writes the dispatcher's series, in Prometheus' text format.
func (d *Dispatcher) WriteMetrics(w io.Writer) { d.metrics.set.WritePrometheus(w) }
