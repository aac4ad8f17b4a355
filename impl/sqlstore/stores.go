package sqlstore

import "github.com/iagente/iagente-sdr/impl"

// One store per aggregate, each over the shared DB. The business rules they
// apply are impl's (LeadEvents, CheckAPIKeyCap, Webhook.Apply, ...): a store
// persists what a rule decides, inside the transaction that makes the change.
type (
	// OrganizationStore implements impl.OrganizationStore.
	OrganizationStore struct{ db *DB }
	// APIKeyStore implements impl.APIKeyStore.
	APIKeyStore struct{ db *DB }
	// UserStore implements impl.UserStore.
	UserStore struct{ db *DB }
	// SessionStore implements impl.SessionStore.
	SessionStore struct{ db *DB }
	// LoginFailureStore implements impl.LoginFailureStore.
	LoginFailureStore struct{ db *DB }
	// LeadStore implements impl.LeadStore.
	LeadStore struct {
		db    *DB
		marks pageMarks
		reads *pointReads[impl.Lead] // nil on SQLite
	}
	// HandoffStore implements impl.HandoffStore.
	HandoffStore struct{ db *DB }
	// IntegrationStore implements impl.IntegrationStore.
	IntegrationStore struct{ db *DB }
	// TemplateStore implements impl.TemplateStore.
	TemplateStore struct{ db *DB }
	// MessageStore implements impl.MessageStore.
	MessageStore struct {
		db    *DB
		reads *pointReads[impl.Message] // nil on SQLite
	}
	// WebhookStore implements impl.WebhookStore.
	WebhookStore struct{ db *DB }
	// DeliveryStore implements impl.DeliveryStore: the delivery log.
	DeliveryStore struct{ db *DB }
	// DeliveryQueue implements impl.DeliveryQueue: the dispatcher's side.
	DeliveryQueue struct{ db *DB }
	// DeliveryLogRetention implements impl.ExpiredLogs: the retention job's
	// side.
	DeliveryLogRetention struct{ db *DB }
	// IdempotencyStore implements impl.IdempotencyStore.
	IdempotencyStore struct{ db *DB }
	// EventLog reads the outbox. No production code needs it: the
	// dispatcher reads events through the DeliveryQueue. Tests and tools
	// read what was written.
	EventLog struct{ db *DB }
)

var (
	_ impl.OrganizationStore = (*OrganizationStore)(nil)
	_ impl.APIKeyStore       = (*APIKeyStore)(nil)
	_ impl.UserStore         = (*UserStore)(nil)
	_ impl.SessionStore      = (*SessionStore)(nil)
	_ impl.LoginFailureStore = (*LoginFailureStore)(nil)
	_ impl.LeadStore         = (*LeadStore)(nil)
	_ impl.HandoffStore      = (*HandoffStore)(nil)
	_ impl.IntegrationStore  = (*IntegrationStore)(nil)
	_ impl.TemplateStore     = (*TemplateStore)(nil)
	_ impl.MessageStore      = (*MessageStore)(nil)
	_ impl.WebhookStore      = (*WebhookStore)(nil)
	_ impl.DeliveryStore     = (*DeliveryStore)(nil)
	_ impl.DeliveryQueue     = (*DeliveryQueue)(nil)
	_ impl.BacklogReader     = (*DeliveryQueue)(nil)
	_ impl.ExpiredLogs       = (*DeliveryLogRetention)(nil)
	_ impl.IdempotencyStore  = (*IdempotencyStore)(nil)
)

// Stores are every store over one DB, for wiring.
type Stores struct {
	DB            *DB
	Organizations *OrganizationStore
	APIKeys       *APIKeyStore
	Users         *UserStore
	Sessions      *SessionStore
	LoginFailures *LoginFailureStore
	Leads         *LeadStore
	Handoffs      *HandoffStore
	Integrations  *IntegrationStore
	Templates     *TemplateStore
	Messages      *MessageStore
	Webhooks      *WebhookStore
	Deliveries    *DeliveryStore
	Queue         *DeliveryQueue
	Retention     *DeliveryLogRetention
	Idempotency   *IdempotencyStore
	Events        *EventLog
}

func newLeadStore(db *DB) *LeadStore {
	s := &LeadStore{db: db}
	if db.dialect == Postgres {
		s.reads = newPointReads(pointReadsRunning, s.readLeads)
	}
	return s
}

func newMessageStore(db *DB) *MessageStore {
	s := &MessageStore{db: db}
	if db.dialect == Postgres {
		s.reads = newPointReads(pointReadsRunning, s.readMessages)
	}
	return s
}

// NewStores returns every store over db.
func NewStores(db *DB) *Stores {
	return &Stores{
		DB:            db,
		Organizations: &OrganizationStore{db},
		APIKeys:       &APIKeyStore{db},
		Users:         &UserStore{db},
		Sessions:      &SessionStore{db},
		LoginFailures: &LoginFailureStore{db},
		Leads:         newLeadStore(db),
		Handoffs:      &HandoffStore{db},
		Integrations:  &IntegrationStore{db},
		Templates:     &TemplateStore{db},
		Messages:      newMessageStore(db),
		Webhooks:      &WebhookStore{db},
		Deliveries:    &DeliveryStore{db},
		Queue:         &DeliveryQueue{db},
		Retention:     &DeliveryLogRetention{db},
		Idempotency:   &IdempotencyStore{db},
		Events:        &EventLog{db},
	}
}

// Close closes the database.
func (s *Stores) Close() error { return s.DB.Close() }
