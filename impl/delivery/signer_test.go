package delivery

import (
	"fmt"
	"testing"

	"github.com/iagente/iagente-sdr/impl"
)

// TestSignerKeepsKeysOfTheSecretsItSigns signs a worker's run of
// deliveries with one signer, as the dispatcher does, and checks every
// signature against the nil signer, which keys each HMAC anew: the same
// webhook in a row (kept keys), another webhook, a rotation that adds and
// then drops a secret, a secret that cannot be decoded, and the webhook
// before it again.
func TestSignerKeepsKeysOfTheSecretsItSigns(t *testing.T) {
	a, b, c := impl.NewWebhookSecret(), impl.NewWebhookSecret(), impl.NewWebhookSecret()
	broken := impl.WebhookSecretPrefix + "not base64!"
	runs := [][]string{{a}, {a}, {a}, {b}, {b}, {c, b}, {c, b}, {c}, {a}, {broken}, {a}, {c, broken}, {c}, {b, a}, {a, b}}

	var sg signer
	for i, secrets := range runs {
		body := fmt.Appendf(nil, `{"n":%d}`, i)
		msgID := fmt.Sprintf("msg_%d", i)
		got, gotErr := sg.standard(msgID, int64(1764783900+i), body, secrets)
		want, wantErr := StandardSignature(msgID, int64(1764783900+i), body, secrets...)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("delivery %d (%d secrets): standard signature %q, %v; keyed anew %q, %v", i, len(secrets), got, gotErr, want, wantErr)
		}
		if legacy, want := sg.legacy(secrets[0], body), Signature(secrets[0], body); legacy != want {
			t.Fatalf("delivery %d: legacy signature %q; keyed anew %q", i, legacy, want)
		}
		// Twice in a row: the second is signed on the kept key.
		if again, _ := sg.standard(msgID, int64(1764783900+i), body, secrets); again != want {
			t.Fatalf("delivery %d signed again: %q, want %q", i, again, want)
		}
	}
	if sg.legacyMAC.mac == nil || sg.std[0].mac == nil {
		t.Fatal("the signer kept no key")
	}
}

// BenchmarkSigner signs one delivery's two headers with a kept key (a
// worker's run of one webhook's deliveries) and with keys made anew.
func BenchmarkSigner(b *testing.B) {
	secrets := []string{impl.NewWebhookSecret()}
	body := []byte(`{"id":"evt_01JABCDEFGHJKMNPQRSTVWXYZ","type":"lead.created","created_at":"2026-12-03T17:45:00Z",` +
		`"data":{"id":123456,"name":"Maria Souza","phone":"5511987654321","email":"maria@example.com.br",` +
		`"temperature":"warm","lead_score":72,"deal_value":15000.5,"status":"new","source":"api"}}`)
	for _, bc := range []struct {
		name string
		sg   *signer
	}{{"kept", &signer{}}, {"anew", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.sg.standard("msg_2Kx9Pq7LmN3vR8sT1wY4zA", 1764783900, body, secrets); err != nil {
					b.Fatal(err)
				}
				_ = bc.sg.legacy(secrets[0], body)
			}
		})
	}
}
