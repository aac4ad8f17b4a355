package httpapi

import (
	"testing"

	"github.com/iagente/iagente-sdr/impl"
)

func TestNegotiateLanguage(t *testing.T) {
	for header, want := range map[string]string{
		"":                              impl.LangPtBR,
		"en":                            impl.LangEn,
		"en-US,en;q=0.9":                impl.LangEn,
		"EN-gb":                         impl.LangEn,
		"pt-BR,pt;q=0.9,en-US;q=0.8":    impl.LangPtBR,
		"pt":                            impl.LangPtBR,
		"pt-PT":                         impl.LangPtBR,
		"fr-FR":                         impl.LangPtBR,
		"fr-FR,en;q=0.5":                impl.LangEn,
		"de;q=0.9,pt-BR;q=0.1,en;q=0.5": impl.LangEn,
		"*":                             impl.LangPtBR,
		"\x00garbage;;q=x":              impl.LangPtBR,
	} {
		if got := negotiateLanguage(header); got != want {
			t.Errorf("Accept-Language %q: %s, want %s", header, got, want)
		}
	}
}
