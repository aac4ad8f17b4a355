package contracttests

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/impl"
)

// Integrations as the API lists them: per channel, the caller's only, and
// never their credentials.

// integrationFields are the only fields an integration has in the API:
// its credentials never leave the server.
var integrationFields = []string{"active", "channel", "created_at", "id", "name", "phone_number", "provider"}

func TestListIntegrations(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		o := newMessagingOrg(t, tg, "integrations")
		const (
			token     = "EAAGsecretAccessToken123"
			appSecret = "app-secret-4f9a"
			agentID   = "iagente-agent-7"
		)
		cloud := o.createIntegration(t, &impl.Integration{Name: "Atendimento", Channel: impl.ChannelWhatsApp,
			Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumberID: "106540352242922", AccessToken: token,
			AppSecret: appSecret, VerifyTokenHash: []byte("0123456789abcdef0123456789abcdef")})
		rbm := o.createIntegration(t, &impl.Integration{Name: "RBM", Channel: impl.ChannelRCS,
			Provider: impl.ProviderGoogleRBM, Active: true, AgentID: agentID, PhoneNumber: "551140040001"})
		off := o.createIntegration(t, &impl.Integration{Name: "Antiga", Channel: impl.ChannelWhatsApp,
			Provider: impl.ProviderSandbox, Active: true})
		o.seed.DisableIntegration(t, o.id, off.ID)
		// Another organization's integrations must not show.
		other := newMessagingOrg(t, tg, "other")
		other.createIntegration(t, &impl.Integration{Name: "Da outra", Channel: impl.ChannelWhatsApp,
			Provider: impl.ProviderSandbox, Active: true})

		check := func(t *testing.T, path string, want []*impl.Integration) {
			t.Helper()
			res, body := tg.raw(t, o.key, http.MethodGet, path, "", nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			for _, secret := range []string{token, appSecret, agentID, "106540352242922", "0123456789abcdef"} {
				if strings.Contains(string(body), secret) {
					t.Errorf("the list leaks %q: %s", secret, body)
				}
			}
			var raw struct {
				Data []map[string]any `json:"data"`
			}
			if err := json.Unmarshal(body, &raw); err != nil {
				t.Fatal(err)
			}
			if len(raw.Data) != len(want) {
				t.Fatalf("%d integrations, want %d: %s", len(raw.Data), len(want), body)
			}
			for i, got := range raw.Data {
				var keys []string
				for k := range got {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				if !slices.Equal(keys, integrationFields) {
					t.Errorf("integration %d has fields %v, want exactly %v", i, keys, integrationFields)
				}
				w := want[i]
				var phone any
				if w.PhoneNumber != "" {
					phone = w.PhoneNumber
				}
				if got["id"] != float64(w.ID) || got["name"] != w.Name || got["channel"] != w.Channel ||
					got["provider"] != w.Provider || got["active"] != w.Active || got["phone_number"] != phone {
					t.Errorf("integration %d is %v, want %+v", i, got, w)
				}
			}
		}
		off.Active = false
		t.Run("whatsapp", func(t *testing.T) { check(t, "/whatsapp/integrations", []*impl.Integration{o.whatsApp, cloud, off}) })
		t.Run("rcs", func(t *testing.T) { check(t, "/rcs/integrations", []*impl.Integration{o.rcs, rbm}) })
	})
}
