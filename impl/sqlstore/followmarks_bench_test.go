package sqlstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// BenchmarkFollowMarks is what following one write costs when the
// process holds marksMax marks, all in the written lead's organization:
// the time the marks' lock is held on each update or delete.
func BenchmarkFollowMarks(b *testing.B) {
	var p pageMarks
	sorts := []string{"name", "-name", "lead_score", "-updated_at", "deal_value", "created_at"}
	for i := range marksMax {
		sort, _ := impl.ParseLeadSort(sorts[i%len(sorts)])
		q := impl.LeadQuery{Sort: sort}
		lead := &impl.Lead{ID: int64(i + 1), Name: ptr(fmt.Sprintf("lead %05d", i)), LeadScore: int32(i % 100),
			DealValue: ptr(float64(i % 50)), CreatedAt: time.Unix(int64(i), 0), UpdatedAt: time.Unix(int64(i), 0)}
		p.leaveKey(1, q, int64(markFrom+i), leadCounts{Total: 100000, MaxID: 1 << 40}, keyOf(sort, lead))
	}
	was := &impl.Lead{ID: 77, Name: ptr("lead 00500"), Temperature: "hot", LeadScore: 5, UpdatedAt: time.Unix(5, 0)}
	is := *was
	is.LeadScore, is.UpdatedAt = 90, time.Unix(9000, 0)
	w := &leadWrite{org: 1, was: was, is: &is,
		after: map[string]counters{"hot": {cTotal: 100000, cList: 1, cScore: 1 << 30, cUpdated: 1 << 30}},
		added: map[string]counters{"hot": {cScore: 1, cUpdated: 1}}}
	b.ReportAllocs()
	for b.Loop() {
		p.follow(w)
	}
}
