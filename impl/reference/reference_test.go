package reference

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/gen/samples"
	"github.com/iagente/iagente-sdr/openapi"
)

// The embedded bundle is the one the manifest pins (scripts/update-reference.sh
// writes both): a hand-edited or half-updated bundle fails here.
func TestBundleIsThePinnedOne(t *testing.T) {
	manifest, err := assets.ReadFile("assets/scalar/MANIFEST")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := assets.ReadFile("assets/scalar/standalone.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bundle)
	if got, want := hex.EncodeToString(sum[:]), manifestField(manifest, "sha256"); got != want {
		t.Errorf("standalone.js has SHA-256 %s; the manifest pins %s: run scripts/update-reference.sh", got, want)
	}
	if _, err := assets.ReadFile("assets/scalar/LICENSE"); err != nil {
		t.Errorf("the bundle's license is not beside it: %v", err)
	}
}

func TestDocument(t *testing.T) {
	set, err := samples.Load()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := Document(openapi.YAML, openapi.WebhooksYAML, set, "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// Every $ref resolves inside the document.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok && !resolves(doc, ref) {
				t.Errorf("$ref %q does not resolve in the reference's document", ref)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	// The events' header webhook-id and the API's webhook id parameter
	// share a name in their files; both survive.
	params := doc["components"].(map[string]any)["parameters"].(map[string]any)
	if params["WebhookId"].(map[string]any)["in"] != "path" || params["EventWebhookId"].(map[string]any)["in"] != "header" {
		t.Errorf("WebhookId %v, EventWebhookId %v", params["WebhookId"], params["EventWebhookId"])
	}
	// Events: one section, no API key.
	for name, item := range doc["webhooks"].(map[string]any) {
		post := item.(map[string]any)["post"].(map[string]any)
		if tags := post["tags"].([]any); len(tags) != 1 || tags[0] != EventsTag {
			t.Errorf("event %s has tags %v", name, tags)
		}
		if sec, ok := post["security"].([]any); !ok || len(sec) != 0 {
			t.Errorf("event %s asks for an API key: %v", name, post["security"])
		}
	}
	// Every tag of the reference has something in it.
	used := map[string]bool{}
	for _, group := range []string{"paths", "webhooks"} {
		for _, item := range doc[group].(map[string]any) {
			for _, op := range item.(map[string]any) {
				if o, ok := op.(map[string]any); ok {
					for _, tag := range o["tags"].([]any) {
						used[tag.(string)] = true
					}
				}
			}
		}
	}
	for _, tag := range doc["tags"].([]any) {
		if name := tag.(map[string]any)["name"].(string); !used[name] {
			t.Errorf("tag %q has no operation or event: an empty section", name)
		}
	}
	// Paths keep the spec's order (JSON objects from a Go map would not).
	if i, j := strings.Index(string(raw), `"/api-keys"`), strings.Index(string(raw), `"/leads"`); i < 0 || j < i {
		t.Errorf("the paths lost the spec's order")
	}
}

func resolves(doc map[string]any, ref string) bool {
	var v any = doc
	for _, seg := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)]; !ok {
			return false
		}
	}
	return strings.HasPrefix(ref, "#/")
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "gzip, deflate, br": true, "br;q=1.0, gzip;q=0.8": true, "gzip;q=0": false, "identity": false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("Accept-Encoding %q: %v, want %v", header, got, want)
		}
	}
}

func TestUnknownPathsAre404(t *testing.T) {
	h, err := New(openapi.YAML, openapi.WebhooksYAML, "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/docs/assets/scalar-0.0.1/standalone.js", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("an old bundle's path: %d", rec.Code)
	}
}

// The bundle is served byte for byte as embedded, plain and gzipped, from
// the binary's read-only data (no copy of it is kept on the heap).
func TestBundleIsServedAsEmbedded(t *testing.T) {
	h, err := New(openapi.YAML, openapi.WebhooksYAML, "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	want, err := fs.ReadFile(h.static, bundleFile)
	if err != nil {
		t.Fatal(err)
	}
	path := "/docs/assets/scalar-" + h.ScalarVersion() + "/standalone.js"
	for _, encoding := range []string{"", "gzip", ""} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if encoding != "" {
			req.Header.Set("Accept-Encoding", encoding)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("Accept-Encoding %q: %d", encoding, rec.Code)
		}
		body := rec.Body.Bytes()
		if got := rec.Header().Get("Content-Encoding"); got != encoding {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", encoding, got)
		}
		if encoding == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		} else if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(len(want)) {
			t.Errorf("Content-Length %q, want %d", got, len(want))
		}
		if !bytes.Equal(body, want) {
			t.Errorf("Accept-Encoding %q: %d bytes served, not the %d embedded", encoding, len(body), len(want))
		}
	}
}
