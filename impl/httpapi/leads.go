package httpapi

import (
	"context"
	"fmt"

	"github.com/oapi-codegen/nullable"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/wire"
)

// leadHandlers serve /leads.
type leadHandlers struct {
	leads impl.LeadStore
}

func (h *leadHandlers) ListLeads(ctx context.Context, req api.ListLeadsRequestObject) (api.ListLeadsResponseObject, error) {
	p := req.Params
	if p.Cursor != nil && p.Page != nil {
		return nil, impl.ErrCursorWithPage()
	}
	page, perPage := pageParams(p.Page, p.PerPage)
	f := impl.LeadFilter{
		Phone:  p.Phone,
		Email:  p.Email,
		Offset: int64(page-1) * int64(perPage),
		Limit:  int(perPage),
	}
	if p.Cursor != nil {
		f.Cursor = *p.Cursor
	}
	if p.Temperature != nil {
		t := string(*p.Temperature)
		f.Temperature = &t
	}
	if p.Sort != nil {
		f.Sort = string(*p.Sort)
	}
	res, err := h.leads.FindLeads(ctx, orgID(ctx), f)
	if err != nil {
		return nil, err
	}
	data := make([]wire.LeadJSON, len(res.Leads))
	for i, l := range res.Leads {
		data[i] = wire.LeadForEncoding(l)
	}
	return jsonAnswer{body: wire.LeadListJSON{Data: data, Meta: wire.LeadPageMeta(res, perPage)}, ifNoneMatch: p.IfNoneMatch}, nil
}

func (h *leadHandlers) CreateLead(ctx context.Context, req api.CreateLeadRequestObject) (api.CreateLeadResponseObject, error) {
	b := req.Body
	lead := &impl.Lead{Phone: b.Phone}
	applyFields(lead, leadFields{b.Name, b.Email, b.CompanyName, b.DealValue, b.Temperature, b.LeadScore})
	// ErrDoneEarlier: the request's first try stored the lead and its answer
	// was lost; the lead as it is now is the answer, as the key promises.
	replayed, err := doneEarlier(h.leads.CreateLead(ctx, orgID(ctx), lead))
	if err != nil {
		return nil, err
	}
	return api.CreateLead201JSONResponse{
		Body: wire.Lead(lead),
		Headers: api.CreateLead201ResponseHeaders{Location: fmt.Sprintf("%s/leads/%d", BasePath, lead.ID),
			ETag: lead.ETag(), IdempotentReplayed: replayed},
	}, nil
}

func (h *leadHandlers) GetLead(ctx context.Context, req api.GetLeadRequestObject) (api.GetLeadResponseObject, error) {
	lead, err := h.leads.FindLeadByID(ctx, orgID(ctx), req.Id)
	if err != nil {
		return nil, err
	}
	return jsonAnswer{body: wire.LeadForEncoding(lead), etag: lead.ETag(), ifNoneMatch: req.Params.IfNoneMatch}, nil
}

// ifMatch is the check of a change made with an If-Match header (nil
// without one): the lead as the changing transaction read it must still
// have one of the tags the header names.
func ifMatch(header *string) func(*impl.Lead) error {
	if header == nil {
		return nil
	}
	return func(l *impl.Lead) error {
		if etag := l.ETag(); !impl.MatchesIfMatch(*header, etag) {
			return impl.ErrLeadChanged(etag)
		}
		return nil
	}
}

// updateIf is the update func of UpdateLead that first checks If-Match. A
// change the lead already shows passes whatever the tag (RFC 9110, 13.1.1:
// a state-changing request that appears to have been applied may be
// answered 2xx): the retry of a PUT or PATCH whose answer was lost finds
// the tag its first try moved, and gets the lead instead of a 412. The
// store then sees no change, so nothing is written or emitted again.
func updateIf(header *string, update func(*impl.Lead)) func(*impl.Lead) error {
	check := ifMatch(header)
	return func(l *impl.Lead) error {
		if check != nil {
			if err := check(l); err != nil {
				applied := *l
				update(&applied)
				applied.Normalize()
				if !l.SameFields(&applied) {
					return err
				}
			}
		}
		update(l)
		return nil
	}
}

// leadOK is the 200 answer of a change to a lead: the lead and its ETag.
func leadOK(lead *impl.Lead) api.LeadOKJSONResponse {
	return api.LeadOKJSONResponse{Body: wire.Lead(lead), Headers: api.LeadOKResponseHeaders{ETag: lead.ETag()}}
}

func (h *leadHandlers) UpdateLead(ctx context.Context, req api.UpdateLeadRequestObject) (api.UpdateLeadResponseObject, error) {
	b := req.Body
	lead, err := h.leads.UpdateLead(ctx, orgID(ctx), req.Id, updateIf(req.Params.IfMatch, func(l *impl.Lead) {
		// PUT replaces: what the body leaves out goes back to its default.
		l.Phone = b.Phone
		l.Name, l.Email, l.CompanyName, l.DealValue = nil, nil, nil, nil
		l.Temperature, l.LeadScore = impl.DefaultTemperature, impl.DefaultLeadScore
		applyFields(l, leadFields{b.Name, b.Email, b.CompanyName, b.DealValue, b.Temperature, b.LeadScore})
	}))
	if err != nil {
		return nil, err
	}
	return api.UpdateLead200JSONResponse{LeadOKJSONResponse: leadOK(lead)}, nil
}

func (h *leadHandlers) PatchLead(ctx context.Context, req api.PatchLeadRequestObject) (api.PatchLeadResponseObject, error) {
	b := req.Body
	lead, err := h.leads.UpdateLead(ctx, orgID(ctx), req.Id, updateIf(req.Params.IfMatch, func(l *impl.Lead) {
		if b.Phone != nil {
			l.Phone = *b.Phone
		}
		applyFields(l, leadFields{b.Name, b.Email, b.CompanyName, b.DealValue, b.Temperature, b.LeadScore})
	}))
	if err != nil {
		return nil, err
	}
	return api.PatchLead200JSONResponse{LeadOKJSONResponse: leadOK(lead)}, nil
}

func (h *leadHandlers) DeleteLead(ctx context.Context, req api.DeleteLeadRequestObject) (api.DeleteLeadResponseObject, error) {
	var err error
	if check := ifMatch(req.Params.IfMatch); check != nil {
		err = h.leads.DeleteLeadIf(ctx, orgID(ctx), req.Id, check)
	} else {
		err = h.leads.DeleteLead(ctx, orgID(ctx), req.Id)
	}
	if err != nil {
		return nil, err
	}
	return api.DeleteLead204Response{}, nil
}

// leadFields are the optional editable fields shared by the create, replace
// and patch bodies.
type leadFields struct {
	name, email, company nullable.Nullable[string]
	dealValue            nullable.Nullable[float64]
	temperature          *api.Temperature
	leadScore            *int32
}

// applyFields sets what the body specifies: a value sets, null clears, and
// an absent field is left as it is.
func applyFields(l *impl.Lead, f leadFields) {
	setNullable(&l.Name, f.name)
	setNullable(&l.Email, f.email)
	setNullable(&l.CompanyName, f.company)
	setNullable(&l.DealValue, f.dealValue)
	if f.temperature != nil {
		l.Temperature = string(*f.temperature)
	}
	if f.leadScore != nil {
		l.LeadScore = *f.leadScore
	}
}

func setNullable[T any](dst **T, n nullable.Nullable[T]) {
	if !n.IsSpecified() {
		return
	}
	if n.IsNull() {
		*dst = nil
		return
	}
	v := n.MustGet()
	*dst = &v
}
