package whatsappcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/iagente/iagente-sdr/impl"
)

// Bounds of a template listing. Meta caps an account's templates in the
// thousands and a page at 100 here, so DefaultMaxTemplatePages pages is
// every real account; more is a Graph API (or a proxy) paging without end.
const (
	templatePageSize        = 100
	DefaultMaxTemplatePages = 100
	// maxListingPageBytes caps one page: 100 templates with their
	// components are some hundreds of kilobytes.
	maxListingPageBytes = 8 << 20
)

// templateFields are the fields a listing asks for: what a template is
// stored with, and its parameter format, which tells named placeholders
// (which this API cannot fill) from numbered ones.
const templateFields = "id,name,language,category,status,parameter_format,components"

var _ impl.TemplateLister = (*Client)(nil)

// metaTemplate is a template as GET /{waba-id}/message_templates lists it.
type metaTemplate struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Language        string `json:"language"`
	Category        string `json:"category"`
	Status          string `json:"status"`
	ParameterFormat string `json:"parameter_format"`
	Components      []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"components"`
}

type templatePage struct {
	Data   []metaTemplate `json:"data"`
	Paging *struct {
		Cursors struct {
			After string `json:"after"`
		} `json:"cursors"`
		Next string `json:"next"`
	} `json:"paging"`
}

// statusOf maps Meta's template statuses onto the spec's; gone reports the
// ones that mean the template is on its way out of the account, which a
// sync treats as not listed. A status Meta adds later passes through as it
// is, for the sync to skip as one the spec does not know.
func statusOf(meta string) (status string, gone bool) {
	switch meta {
	case "IN_APPEAL":
		return impl.TemplatePending, false
	case "PENDING_DELETION", "DELETED", "ARCHIVED":
		return "", true
	}
	return meta, false
}

// ListTemplates reads every message template of the integration's WhatsApp
// Business Account, page by page, following Meta's after cursor on our own
// base URL (never the next URL Meta sends, which would take the token
// wherever the answer said). It fails, rather than return part of the
// listing, on any error answer, a page that does not parse, a cursor that
// does not advance, more than MaxTemplatePages pages, or ctx's end.
func (c *Client) ListTemplates(ctx context.Context, integ *impl.Integration) (*impl.TemplateListing, error) {
	switch {
	case integ == nil || integ.WABAID == "":
		return nil, providerError(0, "", "integration misconfigured: no WhatsApp Business Account id")
	case integ.AccessToken == "" || strings.ContainsFunc(integ.AccessToken, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return nil, providerError(0, "", "integration misconfigured: the WhatsApp Cloud API access token is missing or malformed")
	}
	maxPages := c.MaxTemplatePages
	if maxPages <= 0 {
		maxPages = DefaultMaxTemplatePages
	}
	listing := &impl.TemplateListing{}
	seen := map[string]bool{}
	after := ""
	for {
		if listing.Pages == maxPages {
			return nil, providerError(0, "", fmt.Sprintf("the Graph API was still paging after %d pages", maxPages))
		}
		page, err := c.templatePage(ctx, integ, after)
		if err != nil {
			return nil, err
		}
		listing.Pages++
		for _, t := range page.Data {
			if lt, ok := listed(t); ok {
				listing.Templates = append(listing.Templates, lt)
			}
		}
		if page.Paging == nil || page.Paging.Next == "" {
			return listing, nil
		}
		after = page.Paging.Cursors.After
		if after == "" || seen[after] {
			return nil, providerError(0, "", "the Graph API's paging did not advance")
		}
		seen[after] = true
	}
}

func (c *Client) templatePage(ctx context.Context, integ *impl.Integration, after string) (*templatePage, error) {
	q := url.Values{"fields": {templateFields}, "limit": {fmt.Sprint(templatePageSize)}}
	if after != "" {
		q.Set("after", after)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.graphURL(integ.WABAID, "message_templates")+"?"+q.Encode(), nil)
	if err != nil {
		return nil, providerError(0, "", "integration misconfigured: invalid WhatsApp Cloud API base URL")
	}
	req.Header.Set("Authorization", "Bearer "+integ.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := c.client(defaultListHTTP).Do(req)
	if err != nil {
		return nil, transportError(err, integ.AccessToken)
	}
	defer resp.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxListingPageBytes+1))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, apiError(resp.StatusCode, data, integ.AccessToken)
	}
	if readErr != nil {
		pe := transportError(readErr, integ.AccessToken)
		pe.Status = resp.StatusCode
		return nil, pe
	}
	if len(data) > maxListingPageBytes {
		return nil, providerError(resp.StatusCode, "", "a page of the template listing is larger than 8 MiB")
	}
	var page templatePage
	if err := json.Unmarshal(data, &page); err != nil {
		return nil, providerError(resp.StatusCode, "", fmt.Sprintf("HTTP %d from the Graph API with a template listing that does not parse", resp.StatusCode))
	}
	return &page, nil
}

// listed maps one of Meta's templates into our terms: the BODY
// component's text and its numbered placeholders. A template with named
// placeholders is listed with a reason to skip it, since a send fills
// placeholders by position. ok is false for templates on their way out.
func listed(t metaTemplate) (impl.ListedTemplate, bool) {
	status, gone := statusOf(t.Status)
	if gone {
		return impl.ListedTemplate{}, false
	}
	lt := impl.ListedTemplate{Name: t.Name, Language: t.Language, Category: t.Category, Status: status}
	for _, comp := range t.Components {
		if strings.EqualFold(comp.Type, "BODY") {
			// Kept, as a contact's text is: only what no text may hold
			// goes (a NUL failed the whole sync on PostgreSQL).
			lt.Body = impl.StripControlChars(strings.ToValidUTF8(comp.Text, "\uFFFD"))
		}
	}
	if strings.EqualFold(t.ParameterFormat, "NAMED") {
		lt.Skip = "named placeholders: a send fills placeholders by position"
		return lt, true
	}
	n, err := impl.TemplateVariables(lt.Body)
	if err != nil {
		lt.Skip = "body placeholders: " + err.Error()
		return lt, true
	}
	lt.VariablesCount = n
	return lt, true
}
