package delivery

import (
	"slices"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// fairShare is how a dispatcher shares its workers between webhooks and
// between organizations:
//
//   - A webhook holds at most perWebhook deliveries in this process, from
//     the claim to the end of the attempt (the dispatcher runs at most half
//     of them at once, see Run). A slow or failing endpoint holds no more
//     than that however long its backlog, and that backlog waits behind the
//     webhook's own attempts (retries included), not in front of other
//     webhooks' fresh events.
//   - A webhook whose last attempt succeeded quickly (quickAttempt) may
//     hold up to lent instead, to run on workers the others leave idle:
//     the dispatcher starts its attempts beyond its share only while a
//     share's worth of workers stays free (see Run). A lone webhook drains
//     its backlog on most of the workers; the first slow or failed attempt
//     brings it back to its share, and a newcomer always finds free
//     workers. A new webhook starts at its share, and one not served for
//     forgetAfter turns is new again.
//   - Organizations take turns. At each claim the organization served least
//     recently goes first (on a tie, the one whose oldest due delivery has
//     waited longest), and each takes one delivery per round, so a small
//     customer is served between a big customer's deliveries rather than
//     after them. An organization's webhooks take turns the same way.
//
// It belongs to one dispatcher loop, and its claims beside the loop, which
// share it under the loop's lock (see Run).
type fairShare struct {
	perWebhook int
	lent       int              // what a quick webhook may hold
	quick      map[int64]bool   // webhooks whose last attempt was quick
	busy       map[int64]int    // webhook -> attempts in flight
	turn       uint64           // one per delivery picked
	orgTurn    map[int64]uint64 // organization -> turn it was last served at
	hookTurn   map[int64]uint64 // webhook -> turn it was last served at
}

// forgetAfter bounds the memory of who was served: an organization not
// served in that many turns starts again as if new, which is also where it
// would sort.
const forgetAfter = 1 << 16

func newFairShare(perWebhook, lent int) *fairShare {
	return &fairShare{perWebhook: perWebhook, lent: max(perWebhook, lent), quick: map[int64]bool{},
		busy: map[int64]int{}, orgTurn: map[int64]uint64{}, hookTurn: map[int64]uint64{}}
}

// limit is how many deliveries the webhook may hold.
func (f *fairShare) limit(webhookID int64) int {
	if f.quick[webhookID] {
		return f.lent
	}
	return f.perWebhook
}

// widest is the most any webhook may hold now.
func (f *fairShare) widest() int {
	if len(f.quick) > 0 {
		return f.lent
	}
	return f.perWebhook
}

// observe notes how the webhook's latest attempt went: quick or not.
func (f *fairShare) observe(webhookID int64, quick bool) {
	if quick {
		f.quick[webhookID] = true
	} else {
		delete(f.quick, webhookID)
	}
}

// leftover is what a pick left among the candidates.
type leftover struct {
	// limited: deliveries that could have been taken were left because
	// the limit was reached.
	limited bool
	// waiting are the webhooks at their cap that had due deliveries left.
	waiting []int64
}

type lane struct {
	webhookID int64
	cands     []impl.ClaimCandidate
	first     int // position of its first candidate in the input
}

type orgLanes struct {
	orgID int64
	lanes []*lane
	first int
	next  int // the lane whose turn it is
}

// pick chooses up to limit of the candidates (ordered by rank in their lane,
// then by due time, as impl.ClaimRequest promises) and returns their ids in
// the order to attempt them. It counts them as served but not as busy: the
// claim may lose some to another worker, so start counts the ones it got.
//
// asked is how many candidates the claim read of each webhook's lane: one
// more than it could take when the lane was read, to tell whether the lane
// has more. pick takes no more than that one less, even if the webhook's
// attempts that ended since (the claim runs beside the loop) would make
// room: a lane read to its end would otherwise look emptied.
func (f *fairShare) pick(cands []impl.ClaimCandidate, limit int, asked func(webhookID int64) int) ([]int64, leftover) {
	var orgs []*orgLanes
	byOrg := map[int64]*orgLanes{}
	byHook := map[int64]*lane{}
	for i, c := range cands {
		l := byHook[c.WebhookID]
		if l == nil {
			o := byOrg[c.OrganizationID]
			if o == nil {
				o = &orgLanes{orgID: c.OrganizationID, first: i}
				byOrg[c.OrganizationID] = o
				orgs = append(orgs, o)
			}
			l = &lane{webhookID: c.WebhookID, first: i}
			byHook[c.WebhookID] = l
			o.lanes = append(o.lanes, l)
		}
		l.cands = append(l.cands, c)
	}
	slices.SortStableFunc(orgs, func(a, b *orgLanes) int {
		if x, y := f.orgTurn[a.orgID], f.orgTurn[b.orgID]; x != y {
			return cmpUint(x, y)
		}
		return a.first - b.first
	})
	for _, o := range orgs {
		slices.SortStableFunc(o.lanes, func(a, b *lane) int {
			if x, y := f.hookTurn[a.webhookID], f.hookTurn[b.webhookID]; x != y {
				return cmpUint(x, y)
			}
			return a.first - b.first
		})
	}
	room := func(l *lane) int { return min(f.room(l.webhookID), asked(l.webhookID)-1) }
	taken := map[int64]int{} // webhook -> picked in this call

	var out []int64
	for progress := true; progress && len(out) < limit; {
		progress = false
		for _, o := range orgs {
			if len(out) == limit {
				break
			}
			for range o.lanes {
				l := o.lanes[o.next]
				o.next = (o.next + 1) % len(o.lanes)
				if len(l.cands) == 0 || taken[l.webhookID] >= room(l) {
					continue
				}
				out = append(out, l.cands[0].ID)
				l.cands = l.cands[1:]
				taken[l.webhookID]++
				f.turn++
				f.orgTurn[o.orgID], f.hookTurn[l.webhookID] = f.turn, f.turn
				progress = true
				break
			}
		}
	}

	var left leftover
	for _, l := range byHook {
		switch {
		case len(l.cands) == 0:
		case taken[l.webhookID] >= room(l):
			left.waiting = append(left.waiting, l.webhookID)
		default:
			left.limited = true
		}
	}
	slices.Sort(left.waiting)
	f.forget()
	return out, left
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// forget drops the turns of organizations and webhooks not served lately.
func (f *fairShare) forget() {
	if len(f.orgTurn)+len(f.hookTurn) < forgetAfter || f.turn < forgetAfter {
		return
	}
	for _, m := range []map[int64]uint64{f.orgTurn, f.hookTurn} {
		for id, t := range m {
			if t < f.turn-forgetAfter {
				delete(m, id)
			}
		}
	}
	for id := range f.quick {
		if _, served := f.hookTurn[id]; !served && f.busy[id] == 0 {
			delete(f.quick, id)
		}
	}
}

// start counts an attempt of the webhook as in flight.
func (f *fairShare) start(webhookID int64) { f.busy[webhookID]++ }

// settle counts an attempt of the webhook as finished and returns how many
// are still in flight.
func (f *fairShare) settle(webhookID int64) int {
	n := f.busy[webhookID] - 1
	if n <= 0 {
		delete(f.busy, webhookID)
		return 0
	}
	f.busy[webhookID] = n
	return n
}

// room is how many more deliveries the webhook may hold.
func (f *fairShare) room(webhookID int64) int { return f.limit(webhookID) - f.busy[webhookID] }

// readyQueue holds the claimed deliveries that wait for a worker, or for
// one of their webhook's running places, per webhook in claim order, and
// counts each webhook's running attempts. When a worker is free, the
// organization that started an attempt least recently goes first, as in
// fairShare, so that what was claimed ahead for a busy webhook does not
// take the worker a fresh event of another organization was claimed for.
type readyQueue struct {
	lanes   map[int64][]readyDelivery
	turns   []int64 // webhooks with deliveries waiting, in the order they started last
	running map[int64]int
	started map[int64]uint64 // organization -> turn it last started at
	turn    uint64
}

type readyDelivery struct {
	*impl.ClaimedDelivery
	leaseUntil time.Time
}

func newReadyQueue() *readyQueue {
	return &readyQueue{lanes: map[int64][]readyDelivery{}, running: map[int64]int{}, started: map[int64]uint64{}}
}

func (q *readyQueue) push(c *impl.ClaimedDelivery, leaseUntil time.Time) {
	if len(q.lanes[c.WebhookID]) == 0 {
		q.turns = append(q.turns, c.WebhookID)
	}
	q.lanes[c.WebhookID] = append(q.lanes[c.WebhookID], readyDelivery{c, leaseUntil})
}

// next takes the next delivery to start, of a webhook with fewer than
// limit(webhook) running, and counts it as running.
func (q *readyQueue) next(limit func(webhookID int64) int) (readyDelivery, bool) {
	best := -1
	for i, id := range q.turns {
		if q.running[id] >= limit(id) {
			continue
		}
		if best < 0 || q.started[q.lanes[id][0].OrganizationID] < q.started[q.lanes[q.turns[best]][0].OrganizationID] {
			best = i
		}
	}
	if best < 0 {
		return readyDelivery{}, false
	}
	id := q.turns[best]
	lane := q.lanes[id]
	d := lane[0]
	q.turns = append(q.turns[:best:best], q.turns[best+1:]...)
	if len(lane) == 1 {
		delete(q.lanes, id)
	} else {
		q.lanes[id] = lane[1:]
		q.turns = append(q.turns, id)
	}
	q.running[id]++
	q.turn++
	q.started[d.OrganizationID] = q.turn
	if len(q.started) > forgetAfter {
		for org, t := range q.started {
			if t+forgetAfter < q.turn {
				delete(q.started, org)
			}
		}
	}
	return d, true
}

// done counts a running attempt of the webhook as ended.
func (q *readyQueue) done(webhookID int64) {
	if q.running[webhookID] <= 1 {
		delete(q.running, webhookID)
		return
	}
	q.running[webhookID]--
}

// drain empties the queue and returns what waited.
func (q *readyQueue) drain() []*impl.ClaimedDelivery {
	var out []*impl.ClaimedDelivery
	for _, id := range q.turns {
		for _, d := range q.lanes[id] {
			out = append(out, d.ClaimedDelivery)
		}
	}
	q.lanes, q.turns = map[int64][]readyDelivery{}, nil
	return out
}
