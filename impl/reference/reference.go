// Package reference serves the interactive API reference at /docs/: Scalar's
// standalone bundle (pinned, embedded, updated by
// scripts/update-reference.sh) rendering one document that holds the REST
// API, its webhook events and the code samples of gen/samples. Nothing is
// loaded from another host: the page's Content-Security-Policy allows this
// server only, and "try it" calls this server's /api/v1 directly.
package reference

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync"

	"github.com/iagente/iagente-sdr/gen/samples"
)

//go:embed assets
var assets embed.FS

// Handler serves /docs/.
type Handler struct {
	mux      *http.ServeMux
	document []byte
	page     []byte
	version  string // Scalar's, from the manifest
	static   fs.FS  // assets/

	gzipOnce sync.Once
	gzipped  []byte
}

// New builds the reference from the spec files, for an API served at
// apiBase (a path such as /api/v1: "try it" calls the page's own origin).
// It fails only on a build defect: a spec that does not parse, samples that
// are stale, a bundle that is not the manifest's.
func New(openapiYAML, webhooksYAML []byte, apiBase string) (*Handler, error) {
	set, err := samples.Load()
	if err != nil {
		return nil, fmt.Errorf("load code samples: %w", err)
	}
	doc, err := Document(openapiYAML, webhooksYAML, set, apiBase)
	if err != nil {
		return nil, err
	}
	manifest, err := assets.ReadFile("assets/scalar/MANIFEST")
	if err != nil {
		return nil, err
	}
	version := manifestField(manifest, "version")
	if version == "" {
		return nil, fmt.Errorf("assets/scalar/MANIFEST names no version")
	}
	page, err := assets.ReadFile("assets/index.html")
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	if _, err := fs.Stat(static, bundleFile); err != nil {
		return nil, err
	}
	h := &Handler{mux: http.NewServeMux(), document: doc, version: version, static: static,
		page: bytes.ReplaceAll(page, []byte("{{SCALAR}}"), []byte("scalar-"+version))}
	h.mux.HandleFunc("GET /docs/{$}", h.index)
	h.mux.HandleFunc("GET /docs/reference.json", h.reference)
	h.mux.HandleFunc("GET /docs/assets/scalar-"+version+"/standalone.js", h.standalone)
	h.mux.HandleFunc("GET /docs/assets/scalar/LICENSE", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "scalar/LICENSE")
	})
	for _, name := range []string{"reference.css", "reference.js", "start.js"} {
		h.mux.HandleFunc("GET /docs/assets/"+name, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, static, name)
		})
	}
	// The events used to have a page of their own; they are a part of the
	// reference now.
	for _, p := range []string{"/docs/webhooks", "/docs/webhooks/"} {
		h.mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/docs/#tag/webhook-events", http.StatusMovedPermanently)
		})
	}
	h.mux.HandleFunc("/docs/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	})
	return h, nil
}

// DocumentJSON is the reference's document.
func (h *Handler) DocumentJSON() []byte { return h.document }

// ScalarVersion is the version of the embedded bundle.
func (h *Handler) ScalarVersion() string { return h.version }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	// Scalar injects its styles at run time, hence 'unsafe-inline' for
	// styles; scripts, documents and "try it" requests go to this server only.
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "+
		"frame-ancestors 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(h.page)
}

func (h *Handler) reference(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(h.document)
}

// bundleFile is Scalar's bundle in Handler.static.
const bundleFile = "scalar/standalone.js"

// standalone serves the bundle under a path with its version in it, so it
// can be cached for good, gzipped when the browser takes it (4.8 MB become
// 1.3 MB; compressed once, on the first request, and kept). The plain
// bundle is served from the binary's read-only data: embed.FS.ReadFile
// would copy its 4.8 MB onto the heap for as long as the process lives.
func (h *Handler) standalone(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/javascript; charset=utf-8")
	hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	hdr.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		if gz := h.gzippedBundle(); gz != nil {
			hdr.Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz)
			return
		}
	}
	http.ServeFileFS(w, r, h.static, bundleFile)
}

// gzippedBundle is the bundle gzipped, made on the first call; nil if it
// could not be made, and the bundle is then served as it is.
func (h *Handler) gzippedBundle() []byte {
	h.gzipOnce.Do(func() {
		f, err := h.static.Open(bundleFile)
		if err != nil {
			return
		}
		defer f.Close()
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if _, err := io.Copy(zw, f); err == nil && zw.Close() == nil {
			h.gzipped = b.Bytes()
		}
	})
	return h.gzipped
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func manifestField(manifest []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(manifest))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == key {
			return v
		}
	}
	return ""
}
