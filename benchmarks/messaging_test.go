package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/whatsappcloud"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

// The messaging benchmarks. BenchmarkSendRCSCarousel is the RCS message with
// the most parts (a 10-card carousel, each card with 4 buttons) through the
// whole stack with the sandbox provider, so what it measures is
// our own cost: validation, the handler, and the message and event rows.
// BenchmarkWhatsAppCloudAdapter and BenchmarkSendWhatsAppCloud send to the
// fake Graph API (mocks/graphapi) over loopback HTTP. That fake runs in this
// process, so its CPU time and allocations (it clones the headers, decodes
// the body into a map and records every request) land in ns/op and B/op of
// those two benchmarks, on the same two cores.

// carouselCards are the 10 cards of the benchmarked carousel: a store's
// catalogue, with descriptions of realistic length (118-140 characters).
var carouselCards = []struct{ title, description, slug string }{
	{"Notebook Ultra 14\"", "Processador de 8 núcleos, 16 GB de RAM e SSD de 512 GB. Tela de 14 polegadas com 100% sRGB e bateria para o dia todo. Em até 10x sem juros.", "notebook-ultra-14"},
	{"Monitor 27\" 4K", "Painel IPS de 27 polegadas em 4K com HDR400 e USB-C com 65 W de carga. Ideal para quem passa o dia com planilhas, código ou edição de fotos.", "monitor-27-4k"},
	{"Cadeira Ergonômica Pro", "Apoio lombar ajustável, braços 4D e tela respirável. Garantia de 5 anos e montagem grátis nas capitais. Aguenta até 150 kg.", "cadeira-ergonomica-pro"},
	{"Teclado Mecânico Compacto", "Layout ABNT2 de 75%, switches hot-swap e conexão Bluetooth com até três dispositivos. Retroiluminação branca e bateria de 4.000 mAh.", "teclado-mecanico-75"},
	{"Mouse Sem Fio Silencioso", "Cliques silenciosos, sensor de 4.000 DPI e pilha que dura até 24 meses. Receptor USB e Bluetooth para trocar de computador com um botão.", "mouse-silencioso"},
	{"Headset com Cancelamento", "Cancelamento ativo de ruído, microfone com redução de eco e 30 horas de bateria. Certificado para Teams e Zoom, com estojo de viagem.", "headset-anc"},
	{"Webcam Full HD", "1080p a 60 quadros por segundo, foco automático e correção de luz. Dois microfones estéreo e tampa de privacidade embutida.", "webcam-full-hd"},
	{"Dock USB-C 11 em 1", "Duas saídas HDMI, rede gigabit, leitor de cartão SD e carga de 100 W pelo mesmo cabo. Compatível com Windows, macOS e Linux.", "dock-usb-c-11-em-1"},
	{"Suporte Articulado Duplo", "Para dois monitores de 17 a 32 polegadas, com mola a gás e gerenciamento de cabos. Fixação por grampo ou furo na mesa.", "suporte-articulado-duplo"},
	{"Nobreak 1500 VA", "Senoidal pura, 8 tomadas e software de desligamento automático. Protege o escritório inteiro contra quedas e picos de energia.", "nobreak-1500va"},
}

// carouselBody is POST /rcs/messages with a MEDIUM carousel of 10 cards,
// each with a title, a description, an image and 4 url buttons (7,539
// bytes of JSON).
func carouselBody(b *testing.B) []byte {
	b.Helper()
	type button struct {
		Type string `json:"type"`
		Text string `json:"text"`
		URL  string `json:"url"`
	}
	type card struct {
		Title       string   `json:"title"`
		Description string   `json:"description"`
		MediaURL    string   `json:"media_url"`
		Buttons     []button `json:"buttons"`
	}
	cards := make([]card, len(carouselCards))
	for i, c := range carouselCards {
		page := "https://loja.exemplo.com.br/produtos/" + c.slug
		cards[i] = card{
			Title:       c.title,
			Description: c.description,
			MediaURL:    "https://cdn.exemplo.com.br/catalogo/2026/" + c.slug + "-800x600.jpg",
			Buttons: []button{
				{"url", "Comprar agora", "https://loja.exemplo.com.br/checkout?sku=" + c.slug + "&utm_source=rcs"},
				{"url", "Ver detalhes", page + "?utm_source=rcs"},
				{"url", "Ver vídeo", page + "/video"},
				{"url", "Falar com um vendedor", "https://wa.me/5511912345678?text=Quero+saber+sobre+" + c.slug},
			},
		}
	}
	body, err := json.Marshal(map[string]any{
		"phone":      "+55 (11) 98765-4321",
		"type":       "carousel",
		"card_width": "MEDIUM",
		"cards":      cards,
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// newIntegration stores integ for the organization, active, straight
// through the store.
func newIntegration(b *testing.B, a *app.App, integ *impl.Integration) *impl.Integration {
	b.Helper()
	integ.Active = true
	if err := a.Stores.Integrations.CreateIntegration(context.Background(), integ); err != nil {
		b.Fatalf("create integration: %v", err)
	}
	return integ
}

// checkSent fails b unless the organization has exactly n messages, the
// newest of them sent with a provider id that starts with idPrefix. It is
// not timed.
func checkSent(b *testing.B, a *app.App, orgID int64, n int, idPrefix string) {
	b.Helper()
	page, err := a.Stores.Messages.FindMessages(context.Background(), orgID, impl.MessageFilter{Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	msgs, total := page.Messages, page.Total
	if total != int64(n) || len(msgs) != 1 {
		b.Fatalf("%d messages stored after %d requests", total, n)
	}
	m := msgs[0]
	if m.Status != impl.StatusSent || m.ProviderMessageID == nil || !strings.HasPrefix(*m.ProviderMessageID, idPrefix) {
		b.Fatalf("newest message: status %s, provider id %v, want sent with an id starting %q", m.Status, m.ProviderMessageID, idPrefix)
	}
}

// BenchmarkSendRCSCarousel is POST /rcs/messages with a 10-card carousel
// through the whole stack, sent through a sandbox RCS integration, with
// validation on and off. Each setting gets its own database, as in
// BenchmarkCreateLead. Every request stores a message (queued), then marks it
// sent and writes a message.sent event in one transaction.
func BenchmarkSendRCSCarousel(b *testing.B) {
	body := carouselBody(b)
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			for _, v := range validations {
				b.Run(v.name, func(b *testing.B) {
					a := start(b, freshDatabase(b, db), v)
					org, key := newOrganization(b, a)
					newIntegration(b, a, &impl.Integration{OrganizationID: org.ID, Name: "RCS sandbox",
						Channel: impl.ChannelRCS, Provider: impl.ProviderSandbox})

					// One request checked in full before timing: the stored
					// content has the 10 cards of 4 buttons.
					rec := serve(b, a.Server, newRequest(http.MethodPost, "/api/v1/rcs/messages", key, bytes.NewReader(body)), http.StatusCreated)
					var sent struct {
						Status  string `json:"status"`
						Type    string `json:"type"`
						Content struct {
							Cards []struct {
								Buttons []json.RawMessage `json:"buttons"`
							} `json:"cards"`
						} `json:"content"`
					}
					if err := json.Unmarshal(rec.Body.Bytes(), &sent); err != nil {
						b.Fatalf("decode the sent message: %v", err)
					}
					if sent.Status != impl.StatusSent || sent.Type != "carousel" || len(sent.Content.Cards) != 10 || len(sent.Content.Cards[9].Buttons) != 4 {
						b.Fatalf("sent message is not the 10-card carousel: %s", rec.Body.String())
					}
					n := 1

					b.ReportAllocs()
					report := reportCPUPerOp(b)
					for b.Loop() {
						serve(b, a.Server, newRequest(http.MethodPost, "/api/v1/rcs/messages", key, bytes.NewReader(body)), http.StatusCreated)
						n++
					}
					report()
					checkSent(b, a, org.ID, n, "sandbox.rcs.")
				})
			}
		})
	}
}

// Graph API fixtures: Meta's example phone number id, a token shaped like
// Meta's, and a text of typical length for a first message.
const (
	graphPhoneNumberID = "106540352242922"
	graphAccessToken   = "EAAGm0PX4ZCpsBAKZBdGq7ZBz5ZCbench0ZCtoken0ZCnot0ZCreal"
	whatsAppText       = "Olá, Maria! Aqui é a Ana, da Tech Corp. Vi que você baixou nosso guia de automação de vendas. Posso te mostrar em 15 minutos como ele funciona na prática?"
	whatsAppPhone      = "5511987654321"
)

// resetEvery is how many requests the fake Graph API records before the
// benchmarks clear its list, so that a long run does not hold every request
// it ever sent (a few KB each) in memory.
const resetEvery = 10000

// fakeGraph starts the fake Graph API on a loopback port for the rest of b.
func fakeGraph(b *testing.B) (*unlimitedGraph, *httptest.Server) {
	b.Helper()
	fake := &unlimitedGraph{graphapi.New()}
	fake.Reset()
	ts := httptest.NewServer(fake)
	b.Cleanup(ts.Close)
	return fake, ts
}

// unlimitedGraph is the fake Graph API without Meta's throughput of 80
// messages a second per number, which it enforces from every Reset on: a
// benchmark measures what a send costs, not that limit.
type unlimitedGraph struct{ *graphapi.Server }

func (g *unlimitedGraph) Reset() {
	g.Server.Reset()
	g.SetThroughput(0)
}

// BenchmarkWhatsAppCloudAdapter is whatsappcloud.Client.SendWhatsApp of a
// text message to the fake Graph API over loopback HTTP/1.1, one at a time
// and from GOMAXPROCS goroutines at once. The client is configured as the
// service configures it (no HTTP client of its own, so Go's default
// transport, which keeps 2 idle connections per host). msgs/s is the
// throughput of the whole run: b.N over the elapsed time.
func BenchmarkWhatsAppCloudAdapter(b *testing.B) {
	fake, ts := fakeGraph(b)
	client := &whatsappcloud.Client{BaseURL: ts.URL}
	integ := &impl.Integration{PhoneNumberID: graphPhoneNumberID, AccessToken: graphAccessToken}
	msg := &impl.WhatsAppContent{Type: "text", Text: whatsAppText}
	ctx := context.Background()

	b.Run("sequential", func(b *testing.B) {
		fake.Reset()
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			id, err := client.SendWhatsApp(ctx, integ, whatsAppPhone, "iagente-1", msg)
			if err != nil || !strings.HasPrefix(id, "wamid.") {
				b.Fatalf("send: id %q, error %v", id, err)
			}
			if n++; n%resetEvery == 0 {
				fake.Reset()
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		// Not timed: the fake accepted every request since the last reset.
		reqs := fake.Requests()
		if len(reqs) != n%resetEvery {
			b.Fatalf("fake recorded %d requests, want %d", len(reqs), n%resetEvery)
		}
		for _, r := range reqs {
			if r.Status != http.StatusOK || r.Path != "/"+whatsappcloud.DefaultVersion+"/"+graphPhoneNumberID+"/messages" {
				b.Fatalf("fake answered %s %s with %d", r.Method, r.Path, r.Status)
			}
		}
	})

	b.Run("parallel", func(b *testing.B) {
		fake.Reset()
		b.ReportAllocs()
		var sent, failed atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id, err := client.SendWhatsApp(ctx, integ, whatsAppPhone, "iagente-1", msg)
				if err != nil || !strings.HasPrefix(id, "wamid.") {
					// FailNow must not be called from a RunParallel
					// goroutine; the count is checked below.
					failed.Add(1)
					b.Errorf("send: id %q, error %v", id, err)
					return
				}
				if sent.Add(1)%resetEvery == 0 {
					fake.Reset()
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		if failed.Load() != 0 || sent.Load() != int64(b.N) {
			b.Fatalf("%d of %d sends succeeded", sent.Load(), b.N)
		}
		for _, r := range fake.Requests() {
			// A request the fake received just before a reset can be
			// answered just after it, so only the status is checked.
			if r.Status != http.StatusOK && r.Status != 0 {
				b.Fatalf("fake answered %s %s with %d", r.Method, r.Path, r.Status)
			}
		}
	})
}

// startWith is start with the WhatsApp Cloud API base URL pointed at a fake.
func startWith(b *testing.B, databaseURL string, v validation, whatsAppBaseURL string) *app.App {
	b.Helper()
	cfg := app.Defaults()
	cfg.DatabaseURL = databaseURL
	cfg.ResponseValidation, cfg.DisableRequestValidation = v.responseValidation, v.disableRequest
	cfg.RatePerMinute, cfg.RatePerDay = math.MaxInt32, math.MaxInt32
	cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	cfg.WhatsAppBaseURL = whatsAppBaseURL
	a, err := app.Open(context.Background(), cfg)
	if err != nil {
		b.Fatalf("start service: %v", err)
	}
	b.Cleanup(func() { a.Close() })
	return a
}

// BenchmarkSendWhatsAppCloud is POST /whatsapp/messages of a text through
// the whole stack and a whatsapp_cloud integration, whose adapter sends to
// the fake Graph API over loopback HTTP: BenchmarkSendRCSCarousel's work
// plus BenchmarkWhatsAppCloudAdapter's. SQLite with validation on only: the
// point is what a real provider round trip adds to a send, not the
// database or validation again.
func BenchmarkSendWhatsAppCloud(b *testing.B) {
	db, v := databases[0], validations[0] // sqlite, validation=on
	b.Run(db.name, func(b *testing.B) {
		b.Run(v.name, func(b *testing.B) {
			fake, ts := fakeGraph(b)
			a := startWith(b, freshDatabase(b, db), v, ts.URL)
			org, key := newOrganization(b, a)
			integ := newIntegration(b, a, &impl.Integration{OrganizationID: org.ID, Name: "WhatsApp Cloud",
				Channel: impl.ChannelWhatsApp, Provider: impl.ProviderWhatsAppCloud, PhoneNumber: "+5511912345678",
				PhoneNumberID: graphPhoneNumberID, AccessToken: graphAccessToken})
			// A text needs the contact's 24-hour window open: the contact
			// wrote a minute ago.
			wrote, pid := time.Now().Add(-time.Minute), "wamid.inbound"
			if _, err := a.Stores.Messages.ReceiveMessage(context.Background(), &impl.Message{OrganizationID: org.ID,
				IntegrationID: integ.ID, Channel: impl.ChannelWhatsApp, Direction: impl.DirectionInbound, Type: "text",
				Status: impl.StatusReceived, Phone: whatsAppPhone, ProviderMessageID: &pid, SentAt: &wrote,
				Content: json.RawMessage(`{"text":"Oi"}`)}, nil); err != nil {
				b.Fatalf("the contact's message: %v", err)
			}
			body, err := json.Marshal(map[string]any{
				"integration_id": integ.ID,
				"phone":          whatsAppPhone,
				"type":           "text",
				"text":           whatsAppText,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				serve(b, a.Server, newRequest(http.MethodPost, "/api/v1/whatsapp/messages", key, bytes.NewReader(body)), http.StatusCreated)
				if n++; n%resetEvery == 0 {
					fake.Reset()
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			// Not timed: every request reached the fake and was stored as sent.
			if got := len(fake.Requests()); got != n%resetEvery {
				b.Fatalf("fake recorded %d requests, want %d", got, n%resetEvery)
			}
			checkSent(b, a, org.ID, n+1, "wamid.") // and the contact's message
		})
	})
}

// BenchmarkListMessages is GET /messages, 25 per page, with validation on
// and off, in an organization of 1,000 messages seeded by one INSERT ...
// SELECT (messageScaleSeed). Its cost is mostly the page's encoding and
// validation: a message has eight nullable fields and its content.
func BenchmarkListMessages(b *testing.B) {
	benchPages(b, 1000, func(b *testing.B, a *app.App, dbURL string, orgID int64) string {
		ctx := context.Background()
		in := &impl.Integration{OrganizationID: orgID, Name: "bench", Channel: impl.ChannelWhatsApp, Provider: impl.ProviderSandbox, Active: true}
		if err := a.Stores.Integrations.CreateIntegration(ctx, in); err != nil {
			b.Fatal(err)
		}
		dialect := a.Stores.DB.Dialect()
		if _, err := rawDB(b, dialect, dbURL).ExecContext(ctx, messageScaleSeed(dialect), orgID, 1000, in.ID); err != nil {
			b.Fatal(err)
		}
		return "/api/v1/messages?per_page=25"
	})
}

// benchPages times GET of the first page (25) of a list of total items,
// with validation on and off, on every database: seed fills a fresh
// organization of a fresh database and returns the page's path. The page
// and its total are checked before timing.
func benchPages(b *testing.B, total int64, seed func(b *testing.B, a *app.App, dbURL string, orgID int64) string) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			dbURL := freshDatabase(b, db)
			seeder := start(b, dbURL, validations[0])
			org, key := newOrganization(b, seeder)
			target := seed(b, seeder, dbURL, org.ID)
			settle(b, seeder, dbURL)
			for _, v := range validations {
				b.Run(v.name, func(b *testing.B) {
					a := start(b, dbURL, v)
					if got, page := listTotal(b, serve(b, a.Server, newRequest(http.MethodGet, target, key, nil), http.StatusOK)); got != total || page != 25 {
						b.Fatalf("GET %s: total %d and %d on the page", target, got, page)
					}
					b.ReportAllocs()
					for b.Loop() {
						serve(b, a.Server, newRequest(http.MethodGet, target, key, nil), http.StatusOK)
					}
				})
			}
		})
	}
}
