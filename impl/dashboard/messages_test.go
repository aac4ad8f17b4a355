package dashboard

import (
	"testing"
	"time"
)

// TestRedeliveredMessage: what "Reenviar" says for each outcome, with
// numbers written as the page's readers write them.
func TestRedeliveredMessage(t *testing.T) {
	for _, c := range []struct {
		n    int
		more bool
		want string
	}{
		{0, false, "Nenhuma entrega falhou nesse período."},
		{1, false, "1 entrega reenviada."},
		{3, false, "3 entregas reenviadas."},
		{999, false, "999 entregas reenviadas."},
		{1000, true, "1.000 entregas reenviadas; ainda há outras: clique em Reenviar de novo para continuar."},
	} {
		if got := redeliveredMessage(c.n, c.more); got != c.want {
			t.Errorf("%d (more %v): %q, want %q", c.n, c.more, got, c.want)
		}
	}
}

// TestRetentionDays: the Entregas block's period in whole days, never 0.
func TestRetentionDays(t *testing.T) {
	for keep, want := range map[time.Duration]int{
		30 * 24 * time.Hour: 30, 36 * time.Hour: 2, 12 * time.Hour: 1, 24 * time.Hour: 1, 24*time.Hour + time.Second: 2,
	} {
		if got := retentionDays(keep); got != want {
			t.Errorf("retentionDays(%v) = %d, want %d", keep, got, want)
		}
	}
}
