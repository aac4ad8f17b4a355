package sqlstore

import (
	"io"
	"strconv"

	"github.com/VictoriaMetrics/metrics"
)

// WriteMetrics writes the connection pool's state, in Prometheus' text
// format, for /metrics: how many connections are open, in use and idle
// against the most allowed, and how often and how long requests waited
// for one (a pool too small for the load, or a database holding its
// connections, shows there first).
func (s *DB) WriteMetrics(w io.Writer) {
	st := s.pool.Stats()
	metrics.WriteGaugeUint64(w, "iagente_db_connections_max", uint64(max(0, st.MaxOpenConnections)))
	metrics.WriteGaugeUint64(w, "iagente_db_connections_open", uint64(max(0, st.OpenConnections)))
	metrics.WriteGaugeUint64(w, "iagente_db_connections_in_use", uint64(max(0, st.InUse)))
	metrics.WriteGaugeUint64(w, "iagente_db_connections_idle", uint64(max(0, st.Idle)))
	metrics.WriteCounterUint64(w, "iagente_db_connection_waits_total", uint64(max(0, st.WaitCount)))
	metrics.WriteCounterFloat64(w, "iagente_db_connection_wait_seconds_total", st.WaitDuration.Seconds())
	metrics.WriteMetadataIfNeeded(w, "iagente_db_connections_closed_total", "counter")
	for _, c := range []struct {
		reason string
		n      int64
	}{{"max_idle", st.MaxIdleClosed}, {"max_idle_time", st.MaxIdleTimeClosed}, {"max_lifetime", st.MaxLifetimeClosed}} {
		_, _ = io.WriteString(w, `iagente_db_connections_closed_total{reason="`+c.reason+`"} `+strconv.FormatInt(c.n, 10)+"\n")
	}
}

// WriteMetrics writes the database's metrics (DB.WriteMetrics), then how
// the reads of single leads and messages reached it. dialect: those are
// gathered on PostgreSQL only (pointReads), so SQLite has no such series.
func (st *Stores) WriteMetrics(w io.Writer) {
	st.DB.WriteMetrics(w)
	if l, m := st.Leads.reads, st.Messages.reads; l != nil && m != nil {
		metrics.WriteMetadataIfNeeded(w, "iagente_db_point_reads_total", "counter")
		metrics.WriteMetadataIfNeeded(w, "iagente_db_point_read_gatherings_total", "counter")
		l.writeMetrics(w, "lead")
		m.writeMetrics(w, "message")
	}
}
