package contracttests

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/gen/client"
)

// runSeedCurl runs one of the API reference's curl examples as written,
// with only the production URL and the placeholder key replaced, and
// returns the status and body.
func runSeedCurl(t *testing.T, tg *target, key, file string) (int, []byte) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed to run the API reference's examples verbatim")
	}
	src, err := os.ReadFile("testdata/seed/" + file)
	if err != nil {
		t.Fatal(err)
	}
	cmd := string(src)
	cmd = strings.ReplaceAll(cmd, "https://lp.webpro.com.br/api/v1", tg.baseURL)
	// The longer placeholder first: one is a prefix of the other.
	cmd = strings.ReplaceAll(cmd, "sk_live_sua_chave_aqui", key)
	cmd = strings.ReplaceAll(cmd, "sk_live_sua_chave", key)
	out, err := exec.Command("bash", "-c", strings.TrimSpace(cmd)+` -sS -w '\n%{http_code}'`).Output()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	i := strings.LastIndexByte(string(out), '\n')
	var status int
	if err := json.Unmarshal(out[i+1:], &status); err != nil {
		t.Fatalf("no status in curl output: %q", out)
	}
	return status, out[:i]
}

func TestSeedExamples(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		key := tg.key
		if tg.remote() {
			// The example's phone may be left from an earlier run.
			c := tg.client(t, key, bearer)
			for _, l := range list(t, c, client.ListLeadsParams{Phone: ptr("11999999999")}).Data {
				if _, err := c.DeleteLeadWithResponse(context.Background(), l.Id, nil); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			key = tg.freshOrg(t)
		}

		status, body := runSeedCurl(t, tg, key, "create-lead.curl")
		if status != http.StatusCreated {
			t.Fatalf("create example: %d %s", status, body)
		}
		var lead client.Lead
		if err := json.Unmarshal(body, &lead); err != nil {
			t.Fatal(err)
		}
		if lead.Phone != "11999999999" || lead.Name.MustGet() != "Maria Santos" || lead.Email.MustGet() != "maria@empresa.com" ||
			lead.CompanyName.MustGet() != "Tech Corp" || lead.DealValue.MustGet() != 15000 {
			t.Errorf("created %+v", lead)
		}

		status, body = runSeedCurl(t, tg, key, "list-leads.curl")
		if status != http.StatusOK {
			t.Fatalf("list example: %d %s", status, body)
		}
		var page client.LeadList
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		// Newest first: the lead just created leads the first page.
		if len(page.Data) == 0 || page.Data[0].Id != lead.Id || page.Meta.PerPage != 25 || page.Meta.CurrentPage != 1 {
			t.Errorf("list example gave %s", body)
		}
		if !tg.remote() && page.Meta.Total != 1 {
			t.Errorf("list example: total %d, want 1", page.Meta.Total)
		}

		// Running the create example again is a duplicate phone.
		status, body = runSeedCurl(t, tg, key, "create-lead.curl")
		if status != http.StatusConflict {
			t.Errorf("second create: %d %s", status, body)
		}
		// And what the examples returned is what the typed client sees.
		got, err := tg.client(t, key, bearer).GetLeadWithResponse(context.Background(), lead.Id, nil)
		if err != nil || got.StatusCode() != http.StatusOK {
			t.Fatalf("get: %v %d", err, got.StatusCode())
		}
	})
}
