package dashboard

import (
	"fmt"
	"net/http"

	"github.com/iagente/iagente-sdr/gen/samples"
)

// guidePath is the "Como integrar" guide: public, so the developer who does
// the integration can read it without the customer's password.
const guidePath = "/dashboard/como-integrar"

// guideData is what the guide shows: its curl examples are the reference's
// own, generated from the spec's examples and run by the contract tests.
type guideData struct {
	Title        string
	ListLeads    string
	CreateLead   string
	BaseURL      string
	SignedIn     bool
	Organization string
	UserEmail    string
	CSRF         string
}

func loadGuide() (*guideData, error) {
	set, err := samples.Load()
	if err != nil {
		return nil, fmt.Errorf("load code samples: %w", err)
	}
	sample := func(op string) (string, error) {
		reqs := set.Operations[op]
		if len(reqs) == 0 {
			return "", fmt.Errorf("no code sample of %s", op)
		}
		return reqs[0].Code["curl"], nil
	}
	d := &guideData{Title: "Como integrar", BaseURL: set.BaseURL}
	if d.ListLeads, err = sample("listLeads"); err != nil {
		return nil, err
	}
	if d.CreateLead, err = sample("createLead"); err != nil {
		return nil, err
	}
	return d, nil
}

func (h *Handler) guide(w http.ResponseWriter, r *http.Request) {
	d := *h.guideData
	// Signed in, the header shows the account as on the other pages.
	if s, err := h.loadSession(r); err == nil && s != nil {
		org, err := h.cfg.Organizations.FindOrganizationByID(r.Context(), s.user.OrganizationID)
		if err == nil {
			d.SignedIn, d.Organization, d.UserEmail, d.CSRF = true, org.Name, s.user.Email, s.session.CSRFToken
		}
	}
	h.render(w, r, http.StatusOK, "guide.html", d)
}
