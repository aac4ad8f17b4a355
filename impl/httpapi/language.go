package httpapi

import (
	"golang.org/x/text/language"

	"github.com/iagente/iagente-sdr/impl"
)

// languages are the ones the API answers in, its default (the API
// reference's, Brazilian Portuguese) first: a request that asks for none of
// them, or for nothing, gets the default.
var languages = language.NewMatcher([]language.Tag{language.BrazilianPortuguese, language.English})

// negotiateLanguage picks the language of an error's field messages from an
// Accept-Language header, q-values and regional variants included: "en-US"
// and "en-GB;q=0.9" are English, "pt" and "pt-PT" Portuguese.
func negotiateLanguage(acceptLanguage string) string {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return impl.LangPtBR
	}
	_, i, conf := languages.Match(tags...)
	if conf == language.No || i != 1 {
		return impl.LangPtBR
	}
	return impl.LangEn
}
