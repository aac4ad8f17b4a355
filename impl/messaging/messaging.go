// Package messaging sends and receives messages: it resolves the
// integration, the recipient and the template, keeps the history, and hands
// each message to the integration's provider. The wire formats are the
// providers' business (impl/whatsappcloud, impl/rbm, impl/sandbox); the
// limits on content are the spec's, checked before a request gets here.
package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/wire"
)

// Messenger implements impl.Messenger. Every field is required.
type Messenger struct {
	Leads        impl.LeadStore
	Integrations impl.IntegrationStore
	Templates    impl.TemplateStore
	Messages     impl.MessageStore
	// WhatsApp and RCS map an integration's Provider to its implementation.
	WhatsApp map[string]impl.WhatsAppProvider
	RCS      map[string]impl.RCSProvider
	// SendTimeout bounds each provider call.
	SendTimeout time.Duration
	// DBTimeout bounds the database work after a provider call, which the
	// request's own deadline may no longer cover.
	DBTimeout time.Duration
	Logger    *slog.Logger
	// Now is the clock of the 24-hour window; nil means time.Now.
	Now func() time.Time
}

var _ impl.Messenger = (*Messenger)(nil)

func validation(field string, msg impl.Text) *impl.Error {
	return impl.Errorf(impl.EValidation, "The given data was invalid.").WithDetailText(field, msg)
}

// SendWhatsApp implements impl.Messenger.
func (s *Messenger) SendWhatsApp(ctx context.Context, orgID int64, req *impl.WhatsAppRequest) (*impl.Message, error) {
	integ, err := s.integration(ctx, orgID, impl.ChannelWhatsApp, &req.IntegrationID)
	if err != nil {
		return nil, err
	}
	leadID, phone, err := s.recipient(ctx, orgID, req.Recipient)
	if err != nil {
		return nil, err
	}
	content := req.Content
	if content.Type == "template" {
		t, err := s.template(ctx, orgID, req.TemplateID, req.TemplateName)
		if err != nil {
			return nil, err
		}
		if err := checkVariables(t, content.Variables); err != nil {
			return nil, err
		}
		content.TemplateName, content.TemplateLanguage = t.Name, t.Language
	} else {
		// Every provider keeps WhatsApp's rule, the sandbox included, so
		// that what works in the sandbox works against Meta.
		last, err := s.Messages.LastInbound(ctx, orgID, integ.ID, phone)
		if err != nil {
			return nil, err
		}
		if err := impl.CheckServiceWindow(content.Type, phone, last, s.now()); err != nil {
			return nil, err
		}
	}
	provider, ok := s.WhatsApp[integ.Provider]
	if !ok {
		return nil, fmt.Errorf("integration %d: no WhatsApp provider %q configured", integ.ID, integ.Provider)
	}
	body, err := wire.WhatsAppContent(&content)
	if err != nil {
		return nil, err
	}
	return s.send(ctx, integ, leadID, phone, content.Type, body, func(ctx context.Context, ref string) (string, error) {
		return provider.SendWhatsApp(ctx, integ, phone, ref, &content)
	})
}

func (s *Messenger) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// SendRCS implements impl.Messenger.
func (s *Messenger) SendRCS(ctx context.Context, orgID int64, req *impl.RCSRequest) (*impl.Message, error) {
	integ, err := s.integration(ctx, orgID, impl.ChannelRCS, req.IntegrationID)
	if err != nil {
		return nil, err
	}
	leadID, phone, err := s.recipient(ctx, orgID, req.Recipient)
	if err != nil {
		return nil, err
	}
	provider, ok := s.RCS[integ.Provider]
	if !ok {
		return nil, fmt.Errorf("integration %d: no RCS provider %q configured", integ.ID, integ.Provider)
	}
	content := req.Content
	body, err := wire.RCSContent(&content)
	if err != nil {
		return nil, err
	}
	return s.send(ctx, integ, leadID, phone, content.Type, body, func(ctx context.Context, messageID string) (string, error) {
		return provider.SendRCS(ctx, integ, phone, messageID, &content)
	})
}

// send stores the message as queued, calls the provider and records its
// verdict. The provider call outlives a caller that hangs up, so that the
// stored status says what really happened.
//
// Under an Idempotency-Key the message remembers the key. A retry of a
// request that a crash interrupted finds the message instead of sending it
// again: a message is sent at most once per key, even when that means
// reporting an interrupted send as failed.
func (s *Messenger) send(ctx context.Context, integ *impl.Integration, leadID *int64, phone, typ string, content json.RawMessage,
	call func(ctx context.Context, messageID string) (string, error)) (*impl.Message, error) {
	m := &impl.Message{
		OrganizationID: integ.OrganizationID,
		IntegrationID:  integ.ID,
		Channel:        integ.Channel,
		Direction:      impl.DirectionOutbound,
		Type:           typ,
		Status:         impl.StatusQueued,
		LeadID:         leadID,
		Phone:          phone,
		Content:        content,
	}
	if key := impl.IdempotencyKey(ctx); key != "" {
		earlier, err := s.Messages.FindMessageByIdempotencyKey(ctx, integ.OrganizationID, key)
		if err == nil {
			return s.resume(ctx, earlier)
		}
		if impl.ErrorCode(err) != impl.ENotFound {
			return nil, err
		}
		m.IdempotencyKey = &key
	}
	if err := s.Messages.CreateMessage(ctx, m); err != nil {
		return nil, err
	}
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.SendTimeout)
	defer cancel()
	providerID, sendErr := call(callCtx, impl.MessageReference(m.ID))

	verdict := impl.StatusUpdate{Status: impl.StatusSent, At: s.now(), ProviderMessageID: providerID}
	if sendErr != nil {
		verdict = impl.StatusUpdate{Status: impl.StatusFailed, At: s.now(), Error: providerReason(sendErr)}
		var pe *impl.ProviderError
		if errors.As(sendErr, &pe) {
			verdict.ErrorCode = pe.Code
		}
		s.logger().Warn("send failed", "message_id", m.ID, "integration_id", integ.ID,
			"provider", integ.Provider, "err", sendErr.Error())
	}
	stored, err := s.finish(ctx, m, verdict)
	if err != nil {
		return nil, err
	}
	// A provider's report that came before its answer has the last word
	// over our verdict: a send that timed out but was delivered is no
	// failure, and one accepted, then reported failed, was accepted (201,
	// its status failed).
	if sendErr != nil && stored.Status == impl.StatusFailed {
		return nil, sendFailed(stored)
	}
	return stored, nil
}

// resume answers a retry for a message an earlier request under the same
// Idempotency-Key created: as it ended, or, if its request was cut off
// between storing it and learning the provider's verdict, as failed without
// calling the provider again.
func (s *Messenger) resume(ctx context.Context, m *impl.Message) (*impl.Message, error) {
	if m.Status == impl.StatusQueued {
		stored, err := s.finish(ctx, m, impl.StatusUpdate{Status: impl.StatusFailed, At: s.now(), Error: impl.InterruptedSend})
		if err != nil {
			return nil, err
		}
		if stored.Status == impl.StatusFailed {
			s.logger().Warn("interrupted send ended as failed", "message_id", m.ID, "integration_id", m.IntegrationID)
		}
		m = stored
	}
	if m.Status == impl.StatusFailed {
		return nil, sendFailed(m)
	}
	return m, nil
}

// finish records the verdict, with a deadline of its own: the request's may
// have run out while the provider answered.
func (s *Messenger) finish(ctx context.Context, m *impl.Message, verdict impl.StatusUpdate) (*impl.Message, error) {
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.DBTimeout)
	defer cancel()
	stored, err := s.Messages.FinishMessage(finishCtx, m.OrganizationID, m.ID, verdict)
	if err != nil {
		return nil, fmt.Errorf("record the outcome of message %d: %w", m.ID, err)
	}
	return stored, nil
}

func sendFailed(m *impl.Message) error {
	reason := "no reason given"
	if m.Error != nil {
		reason = *m.Error
	}
	return &impl.Error{
		Code:    impl.ESendFailed,
		Message: "The provider did not accept the message: " + reason,
		Details: map[string][]string{"message_id": {strconv.FormatInt(m.ID, 10)}},
	}
}

// providerReason is what a partner is told about a failed send: the
// provider's own message, never our internals.
func providerReason(err error) string {
	var pe *impl.ProviderError
	if errors.As(err, &pe) {
		msg := impl.ProviderText(pe.Message)
		if msg == "" {
			msg = "no reason given"
		}
		if pe.Status != 0 && !strings.Contains(msg, "HTTP "+strconv.Itoa(pe.Status)) {
			// The status is kept whole, however long the words before it.
			status := fmt.Sprintf(" (HTTP %d)", pe.Status)
			return impl.ProviderTextMax(msg, impl.MaxProviderText-len(status)) + status
		}
		return msg
	}
	return "the provider could not be called"
}

func (s *Messenger) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// integration returns the organization's active integration on channel: the
// one with id, or the oldest active one when id is nil.
func (s *Messenger) integration(ctx context.Context, orgID int64, channel string, id *int64) (*impl.Integration, error) {
	if id == nil {
		all, err := s.Integrations.ListIntegrations(ctx, orgID, channel)
		if err != nil {
			return nil, err
		}
		for _, in := range all {
			if in.Active {
				return in, nil
			}
		}
		return nil, impl.Errorf(impl.EIntegrationNotFound, "Your organization has no active %s integration.", impl.ChannelNames[channel])
	}
	in, err := s.Integrations.FindIntegrationByID(ctx, orgID, *id)
	if impl.ErrorCode(err) == impl.ENotFound || err == nil && (!in.Active || in.Channel != channel) {
		return nil, impl.Errorf(impl.EIntegrationNotFound, "%s integration %d not found or inactive.", impl.ChannelNames[channel], *id)
	}
	return in, err
}

// recipient returns the lead and the phone a message goes to. A phone is
// linked to the lead that has it, if any.
func (s *Messenger) recipient(ctx context.Context, orgID int64, r impl.Recipient) (*int64, string, error) {
	if r.LeadID != nil {
		lead, err := s.Leads.FindLeadByID(ctx, orgID, *r.LeadID)
		if err != nil {
			return nil, "", err
		}
		return &lead.ID, lead.Phone, nil
	}
	if r.Phone == nil {
		// Only reachable with request validation switched off.
		return nil, "", impl.Errorf(impl.EBadRequest, "The message has no recipient.")
	}
	phone := impl.NormalizePhone(*r.Phone)
	page, err := s.Leads.FindLeads(ctx, orgID, impl.LeadFilter{Phone: &phone, Limit: 1})
	if err != nil {
		return nil, "", err
	}
	if len(page.Leads) == 1 {
		return &page.Leads[0].ID, phone, nil
	}
	return nil, phone, nil
}

func (s *Messenger) template(ctx context.Context, orgID int64, id *int64, name *string) (*impl.Template, error) {
	var (
		t     *impl.Template
		field string
	)
	if id != nil {
		field = "template_id"
		var err error
		t, err = s.Templates.FindTemplateByID(ctx, orgID, *id)
		if impl.ErrorCode(err) == impl.ENotFound {
			return nil, impl.Errorf(impl.ENotFound, "Template not found.").WithDetailText(field, impl.Text{En: "no template has this id", PtBR: "Nenhum template tem este id."})
		}
		if err != nil {
			return nil, err
		}
	} else if name != nil {
		field = "template_name"
		all, err := s.Templates.FindTemplatesByName(ctx, orgID, *name)
		if err != nil {
			return nil, err
		}
		switch len(all) {
		case 0:
			return nil, impl.Errorf(impl.ENotFound, "Template not found.").WithDetailText(field, impl.Text{En: "no template has this name", PtBR: "Nenhum template tem este nome."})
		case 1:
			t = all[0]
		default:
			langs := make([]string, len(all))
			for i, x := range all {
				langs[i] = x.Language
			}
			sort.Strings(langs)
			return nil, validation(field, impl.Text{
				En: fmt.Sprintf("names templates in several languages (%s); send template_id instead", strings.Join(langs, ", ")),
				PtBR: fmt.Sprintf("O campo %s corresponde a templates em vários idiomas (%s); envie template_id.",
					field, strings.Join(langs, ", ")),
			})
		}
	} else {
		// Only reachable with request validation switched off.
		return nil, impl.Errorf(impl.EBadRequest, "The message names no template.")
	}
	if !t.MetaApproved {
		return nil, validation(field, impl.Text{En: "is not approved by Meta yet",
			PtBR: "O template de " + field + " ainda não foi aprovado pela Meta."})
	}
	return t, nil
}

func checkVariables(t *impl.Template, vars []string) error {
	if len(vars) == t.VariablesCount {
		return nil
	}
	noun, valor := "values", "valores"
	if t.VariablesCount == 1 {
		noun, valor = "value", "valor"
	}
	return validation("variables", impl.Text{
		En: fmt.Sprintf("must contain %d %s, one per placeholder of template %s; got %d",
			t.VariablesCount, noun, t.Name, len(vars)),
		PtBR: fmt.Sprintf("O campo variables deve ter %d %s, um para cada variável do template %s; recebeu %d.",
			t.VariablesCount, valor, t.Name, len(vars)),
	})
}

// Receive implements impl.Messenger.
func (s *Messenger) Receive(ctx context.Context, integ *impl.Integration, msgs []impl.InboundMessage) error {
	for _, in := range msgs {
		content, err := wire.InboundContent(in.Content)
		if err != nil {
			return err
		}
		pid := in.ProviderMessageID
		sentAt := impl.ReportedTime(in.SentAt, s.now())
		m := &impl.Message{
			OrganizationID:    integ.OrganizationID,
			IntegrationID:     integ.ID,
			Channel:           integ.Channel,
			Direction:         impl.DirectionInbound,
			Type:              in.Type,
			Status:            impl.StatusReceived,
			Phone:             impl.NormalizePhone(in.From),
			Content:           content,
			ProviderMessageID: &pid,
			SentAt:            &sentAt,
		}
		var name *string
		if in.ContactName != "" {
			n := in.ContactName
			name = &n
		}
		if _, err := s.Messages.ReceiveMessage(ctx, m, name); err != nil {
			return fmt.Errorf("store inbound message: %w", err)
		}
	}
	return nil
}

// ApplyStatusReports implements impl.Messenger.
func (s *Messenger) ApplyStatusReports(ctx context.Context, integ *impl.Integration, reports []impl.StatusReport) (int, error) {
	applied := 0
	for _, r := range reports {
		if !impl.KnownStatusUpdate(r.Status) {
			s.logger().Warn("status report ignored: unknown status", "integration_id", integ.ID, "report", r.String())
			continue
		}
		r.At = impl.ReportedTime(r.At, s.now())
		_, changed, err := s.Messages.UpdateMessageStatus(ctx, integ.ID, r)
		switch {
		case impl.ErrorCode(err) == impl.ENotFound:
			// Sent by another tool on the same number, or not by this
			// integration: not ours to follow.
			s.logger().Debug("status report ignored: no such message", "integration_id", integ.ID, "report", r.String())
		case err != nil:
			return applied, fmt.Errorf("apply status report %s: %w", r, err)
		case changed:
			applied++
		}
	}
	return applied, nil
}
