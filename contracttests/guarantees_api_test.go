package contracttests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/api"
)

// guaranteesAPI calls one server's REST API with a key.
type guaranteesAPI struct {
	base   string // http://host:port
	key    string
	client *http.Client
}

func newGuaranteesAPI(s *guaranteesServer, key string) *guaranteesAPI {
	return &guaranteesAPI{base: s.baseURL, key: key, client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32},
	}}
}

// do sends a JSON request and decodes a JSON answer into out; it returns the
// status and the raw body.
func (a *guaranteesAPI) do(method, path string, in, out any) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+"/api/v1"+path, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, nil, err
	}
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, b, fmt.Errorf("decode %s %s: %v", method, path, err)
		}
	}
	return res.StatusCode, b, nil
}

// createWebhook subscribes url to lead.created and returns the webhook with
// its signing secret.
func (a *guaranteesAPI) createWebhook(t testing.TB, url string) api.WebhookCreated {
	t.Helper()
	var w api.WebhookCreated
	code, body, err := a.do(http.MethodPost, "/webhooks", map[string]any{
		"name": "delivery guarantees", "url": url, "events": []string{"lead.created"},
	}, &w)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("POST /webhooks: %d %v: %s", code, err, body)
	}
	if w.Id == 0 || w.SigningSecret == "" {
		t.Fatalf("POST /webhooks answered without id or signing_secret: %s", body)
	}
	return w
}

// createLeads creates one lead per phone with `workers` concurrent clients
// and returns the ids of the leads created, in the order of phones. It may
// run outside the test's goroutine, so it returns an error instead of
// failing the test.
func (a *guaranteesAPI) createLeads(phones []string, workers int) ([]int64, error) {
	ids := make([]int64, len(phones))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var lead api.Lead
				code, body, err := a.do(http.MethodPost, "/leads", map[string]any{"phone": phones[i]}, &lead)
				if err != nil || code != http.StatusCreated || lead.Id == 0 {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("POST /leads %s: %d %v: %s", phones[i], code, err, body))
					mu.Unlock()
					continue
				}
				ids[i] = lead.Id
			}
		}()
	}
	for i := range phones {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return ids, fmt.Errorf("%d of %d leads were not created; first: %s", len(errs), len(phones), errs[0])
	}
	return ids, nil
}

// deliveries pages through GET /webhooks/{id}/deliveries with per_page=100.
func (a *guaranteesAPI) deliveries(t testing.TB, webhookID int64) []api.Delivery {
	t.Helper()
	var all []api.Delivery
	for page := 1; ; page++ {
		var list api.DeliveryList
		path := fmt.Sprintf("/webhooks/%d/deliveries?page=%d&per_page=100", webhookID, page)
		code, body, err := a.do(http.MethodGet, path, nil, &list)
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET %s: %d %v: %s", path, code, err, body)
		}
		all = append(all, list.Data...)
		if int64(page) >= int64(list.Meta.TotalPages) || len(list.Data) == 0 {
			if int64(len(all)) != int64(list.Meta.Total) {
				t.Fatalf("paging deliveries gave %d, meta.total says %d", len(all), list.Meta.Total)
			}
			return all
		}
	}
}

// guaranteesPhones returns n distinct Brazilian mobile numbers.
func guaranteesPhones(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("%s%08d", prefix, from+i)
	}
	return out
}

// guaranteesStatuses counts deliveries per status.
func guaranteesStatuses(ds []api.Delivery) map[string]int {
	out := map[string]int{}
	for _, d := range ds {
		out[string(d.Status)]++
	}
	return out
}
