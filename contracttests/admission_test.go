package contracttests

import (
	"net/http"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl/app"
)

// A send waiting for a slow provider does not hold a place under
// MAX_CONCURRENT_REQUESTS: with a bound of one request at a time and a
// queue timeout far shorter than Meta's answer, the organization's other
// requests are still answered while the send waits, and the send still
// ends as sent.
func TestASlowProviderHoldsNoPlace(t *testing.T) {
	forEachCloudTargetWith(t, func(c *app.Config) {
		c.SendTimeout = 10 * time.Second
		c.MaxConcurrentRequests, c.RequestQueueTimeout = 1, 300*time.Millisecond
	}, func(t *testing.T, env *cloudEnv) {
		tg, fake, integ := env.tg, env.fake, env.integ
		seed := tg.seed(t)
		phone := uniquePhone(t)
		seed.ContactWrote(t, integ.ID, phone)
		fake.SetDelay(2 * time.Second)

		type answer struct {
			res *http.Response
			out []byte
		}
		sent := make(chan answer, 1)
		go func() {
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{"integration_id": integ.ID,
				"type": "text", "phone": phone, "text": "Ola! Seu pedido saiu para entrega."})
			sent <- answer{res, out}
		}()
		for i := 0; len(fake.Requests()) == 0; i++ {
			if i == 500 {
				t.Fatal("the send never reached the fake Graph API")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Meta has the message and answers in 2 s; the only place is free.
		for _, path := range []string{"/leads", "/whatsapp/integrations"} {
			if res, out := doJSON(t, tg, tg.key, http.MethodGet, path, nil); res.StatusCode != http.StatusOK {
				t.Errorf("GET %s while a send waits for Meta: %d %s", path, res.StatusCode, out)
			}
		}
		a := <-sent
		mustCreated(t, tg, tg.key, a.res, a.out)
	})
}
