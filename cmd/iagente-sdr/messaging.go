package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/contract"
	"github.com/iagente/iagente-sdr/impl/wire"
)

// Integration credentials come from the environment, never from flags:
// flags end up in shell history and in every `ps` listing.
const (
	envAccessToken = "INTEGRATION_ACCESS_TOKEN"
	envAppSecret   = "INTEGRATION_APP_SECRET"
	envVerifyToken = "INTEGRATION_VERIFY_TOKEN"
	envClientToken = "INTEGRATION_CLIENT_TOKEN"
)

func integrations(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("integrations: expected create, list, enable or disable")
	}
	sub := args[0]
	fs := flag.NewFlagSet("integrations "+sub, flag.ContinueOnError)
	org := fs.Int64("org", 0, "organization id")
	asJSON := fs.Bool("json", false, "print JSON")
	channel := fs.String("channel", "", "whatsapp or rcs")
	name := fs.String("name", "", "a name for the integration")
	provider := fs.String("provider", impl.ProviderSandbox, "sandbox, whatsapp_cloud or google_rbm")
	phone := fs.String("phone-number", "", "the business number, as shown to partners")
	phoneID := fs.String("phone-number-id", "", "whatsapp_cloud: the Graph API phone number id")
	agentID := fs.String("agent-id", "", "google_rbm: the RBM agent id")
	wabaID := fs.String("waba-id", "", "whatsapp_cloud: the WhatsApp Business Account id, whose templates are synced")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return usagef("integrations %s: %v", sub, err)
	}
	if *org < 1 {
		return usagef("integrations %s: --org ID is required", sub)
	}
	switch sub {
	case "create", "list":
		if len(pos) > 0 {
			return usagef("integrations %s: unexpected argument %q", sub, pos[0])
		}
	case "enable", "disable":
		if len(pos) != 1 {
			return usagef("integrations %s: expected exactly one INTEGRATION_ID", sub)
		}
	default:
		return usagef("integrations: unknown subcommand %q", sub)
	}
	db, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Organizations.FindOrganizationByID(ctx, *org); err != nil {
		return err
	}
	switch sub {
	case "create":
		in := &impl.Integration{OrganizationID: *org, Name: *name, Channel: *channel, Provider: *provider, Active: true,
			PhoneNumber: impl.NormalizePhone(*phone), PhoneNumberID: *phoneID, AgentID: *agentID, WABAID: *wabaID,
			AccessToken: getenv(envAccessToken), AppSecret: getenv(envAppSecret), ClientToken: getenv(envClientToken)}
		verifyToken, err := prepareIntegration(in, getenv(envVerifyToken))
		if err != nil {
			return err
		}
		if err := db.Integrations.CreateIntegration(ctx, in); err != nil {
			return err
		}
		if *asJSON {
			row := integrationRow(in)
			if verifyToken != "" {
				row["verify_token"] = verifyToken
			}
			return json.NewEncoder(out).Encode(row)
		}
		fmt.Fprintf(out, "%s integration %d %q created (provider %s)\n", in.Channel, in.ID, in.Name, in.Provider)
		if verifyToken != "" {
			fmt.Fprintf(out, "Inbound webhook URL: https://YOUR-HOST/inbound/whatsapp/%d\nVerify token (shown once, paste it into Meta's app dashboard): %s\n", in.ID, verifyToken)
		}
		if in.Provider == impl.ProviderGoogleRBM {
			fmt.Fprintf(out, "RBM webhook URL (the agent's, in the RBM console): https://YOUR-HOST/inbound/rcs/%d\n", in.ID)
			if in.ClientToken == "" {
				fmt.Fprintf(out, "No client token (%s): RBM's webhook will be refused until the integration has one.\n", envClientToken)
			}
			if in.AccessToken == "" {
				fmt.Fprintln(out, "No access token of its own: sends use the server's RBM_ACCESS_TOKEN.")
			}
		}
		return nil
	case "list":
		all, err := db.Integrations.ListIntegrations(ctx, *org, "")
		if err != nil {
			return err
		}
		if *asJSON {
			rows := make([]map[string]any, 0, len(all))
			for _, in := range all {
				rows = append(rows, integrationRow(in))
			}
			return json.NewEncoder(out).Encode(rows)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCHANNEL\tPROVIDER\tACTIVE\tPHONE\tCREATED")
		for _, in := range all {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%t\t%s\t%s\n", in.ID, in.Name, in.Channel, in.Provider, in.Active,
				in.PhoneNumber, in.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	default: // enable, disable
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil {
			return usagef("integrations %s: INTEGRATION_ID must be a number", sub)
		}
		if err := db.Integrations.SetIntegrationActive(ctx, *org, id, sub == "enable"); err != nil {
			return err
		}
		fmt.Fprintf(out, "integration %d %sd\n", id, sub)
		return nil
	}
}

// prepareIntegration checks an integration's settings for its provider and,
// for WhatsApp, sets up the inbound handshake: it hashes the given verify
// token, or a new one, and returns it to be shown once.
func prepareIntegration(in *impl.Integration, verifyToken string) (string, error) {
	if err := in.Validate(); err != nil {
		return "", usagef("integrations create: %s", integrationProblem(err))
	}
	if in.PhoneNumber != "" {
		if err := checkSpec("Phone", in.PhoneNumber); err != nil {
			return "", usagef("integrations create: --phone-number: %v", err)
		}
	}
	if in.Channel != impl.ChannelWhatsApp {
		return "", nil
	}
	if verifyToken == "" {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		verifyToken = hex.EncodeToString(b[:])
	}
	sum := sha256.Sum256([]byte(verifyToken))
	in.VerifyTokenHash = sum[:]
	return verifyToken, nil
}

// integrationFlags names, for each field impl.Integration.Validate can fault,
// where the command line takes it from.
var integrationFlags = map[string]string{
	"channel": "--channel", "provider": "--provider", "phone_number_id": "--phone-number-id",
	"agent_id":     "--agent-id (the token is " + envAccessToken + ", or else the server's RBM_ACCESS_TOKEN)",
	"access_token": envAccessToken, "app_secret": envAppSecret, "waba_id": "--waba-id", "client_token": envClientToken,
}

// integrationProblem says what is wrong with an integration in the command
// line's terms.
func integrationProblem(err error) string {
	var ae *impl.Error
	if !errors.As(err, &ae) {
		return err.Error()
	}
	var out []string
	for field, msgs := range ae.Details {
		for _, m := range msgs {
			out = append(out, integrationFlags[field]+" "+m)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func integrationRow(in *impl.Integration) map[string]any {
	return map[string]any{"id": in.ID, "organization_id": in.OrganizationID, "name": in.Name, "channel": in.Channel,
		"provider": in.Provider, "active": in.Active, "phone_number": in.PhoneNumber, "created_at": in.CreatedAt}
}

func templates(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("templates: expected create, list or sync")
	}
	sub := args[0]
	if sub == "sync" {
		return syncTemplates(ctx, args[1:], getenv, out)
	}
	fs := flag.NewFlagSet("templates "+sub, flag.ContinueOnError)
	org := fs.Int64("org", 0, "organization id")
	asJSON := fs.Bool("json", false, "print JSON")
	name := fs.String("name", "", "the template's name, as registered with Meta")
	language := fs.String("language", "pt_BR", "its language code")
	category := fs.String("category", "UTILITY", "MARKETING, UTILITY or AUTHENTICATION")
	tcontext := fs.String("context", "", "what it is for, e.g. onboarding")
	approved := fs.Bool("approved", false, "Meta has approved it")
	body := fs.String("body", "", "the text, with placeholders {{1}}, {{2}}, ...")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return usagef("templates %s: %v", sub, err)
	}
	if *org < 1 {
		return usagef("templates %s: --org ID is required", sub)
	}
	if len(pos) > 0 {
		return usagef("templates %s: unexpected argument %q", sub, pos[0])
	}
	if sub != "create" && sub != "list" {
		return usagef("templates: unknown subcommand %q", sub)
	}
	t := &impl.Template{OrganizationID: *org, Name: *name, Language: *language, Category: *category,
		MetaApproved: *approved, Body: *body}
	if sub == "create" {
		if err := prepareTemplate(t, *tcontext); err != nil {
			return err
		}
	}
	db, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Organizations.FindOrganizationByID(ctx, *org); err != nil {
		return err
	}
	if sub == "create" {
		if err := db.Templates.CreateTemplate(ctx, t); err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(out).Encode(wire.Template(t))
		}
		fmt.Fprintf(out, "template %d %q (%s) created with %d variables\n", t.ID, t.Name, t.Language, t.VariablesCount)
		return nil
	}
	var all []*impl.Template
	for page := int64(0); ; page++ {
		ts, total, err := db.Templates.FindTemplates(ctx, *org, impl.TemplateFilter{Offset: page * 100, Limit: 100})
		if err != nil {
			return err
		}
		all = append(all, ts...)
		if int64(len(all)) >= total || len(ts) == 0 {
			break
		}
	}
	if *asJSON {
		rows := make([]api.Template, len(all))
		for i, t := range all {
			rows[i] = wire.Template(t)
		}
		return json.NewEncoder(out).Encode(rows)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tLANGUAGE\tCATEGORY\tSTATUS\tAPPROVED\tVARIABLES\tSOURCE\tREMOVED")
	for _, t := range all {
		removed := ""
		if t.RemovedAt != nil {
			removed = t.RemovedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%t\t%d\t%s\t%s\n", t.ID, t.Name, t.Language, t.Category, t.Status,
			t.MetaApproved, t.VariablesCount, t.Source, removed)
	}
	return tw.Flush()
}

// syncTemplates reads the templates of the organization's WhatsApp Cloud
// API integrations (or the one named) from Meta, as the API's sync does,
// one integration after the other. It fails, after trying them all, when
// one failed.
func syncTemplates(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("templates sync", flag.ContinueOnError)
	org := fs.Int64("org", 0, "organization id")
	integ := fs.Int64("integration", 0, "only this integration")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return usagef("templates sync: %v", err)
	}
	if *org < 1 {
		return usagef("templates sync: --org ID is required")
	}
	if len(pos) > 0 {
		return usagef("templates sync: unexpected argument %q", pos[0])
	}
	cfg, err := app.FromEnv(getenv)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Organizations.FindOrganizationByID(ctx, *org); err != nil {
		return err
	}
	sync := app.NewTemplateSync(cfg, db)
	var ids []int64
	if *integ > 0 {
		ids = []int64{*integ}
	} else {
		all, err := db.Integrations.ListIntegrations(ctx, *org, impl.ChannelWhatsApp)
		if err != nil {
			return err
		}
		for _, in := range all {
			if in.Active && in.Provider == impl.ProviderWhatsAppCloud && in.WABAID != "" {
				ids = append(ids, in.ID)
			}
		}
		if len(ids) == 0 {
			return fmt.Errorf("organization %d has no active WhatsApp Cloud API integration with a WhatsApp Business Account id (integrations create ... --waba-id)", *org)
		}
	}
	var results []api.TemplateSyncResult
	failed := 0
	for _, id := range ids {
		r, err := sync.SyncTemplates(ctx, *org, &id)
		if err != nil {
			failed++
			msg := err.Error()
			if ae, ok := errors.AsType[*impl.Error](err); ok {
				msg = ae.Message
				for field, ms := range ae.Details {
					if field != "integration_id" {
						continue
					}
					for _, m := range ms {
						if strings.Contains(m, " ") {
							msg += " (" + m + ")"
						}
					}
				}
			}
			fmt.Fprintf(out, "integration %d: %s\n", id, msg)
			continue
		}
		results = append(results, wire.TemplateSyncResult(r))
		if !*asJSON {
			fmt.Fprintf(out, "integration %d: %d listed in %d pages: %d created, %d updated, %d unchanged, %d removed, %d skipped\n",
				id, r.Listed, r.Pages, r.Created, r.Updated, r.Unchanged, r.Removed, r.Skipped)
		}
	}
	if *asJSON {
		if err := json.NewEncoder(out).Encode(results); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("the templates of %d of %d integrations could not be synced; the stored ones are unchanged", failed, len(ids))
	}
	return nil
}

// prepareTemplate checks a new template against the spec's schemas (a
// template the API could not return would break every listing) and counts
// its placeholders.
func prepareTemplate(t *impl.Template, context string) error {
	if err := checkSpec("TemplateName", t.Name); err != nil {
		return usagef("templates create: --name: %v", err)
	}
	if err := checkSpec("TemplateCategory", t.Category); err != nil {
		return usagef("templates create: --category: %v", err)
	}
	if strings.TrimSpace(t.Body) == "" {
		return usagef("templates create: --body is required")
	}
	if err := checkSpec("TemplateLanguage", t.Language); err != nil {
		return usagef("templates create: --language: %v", err)
	}
	if !utf8.ValidString(t.Body) || impl.HasControlChars(t.Body) {
		return usagef("templates create: --body: must be UTF-8 text without control characters other than tab and line breaks")
	}
	if context != "" {
		if !impl.PlainLineOK(context) {
			return usagef("templates create: --context must be one line of text without control characters")
		}
		t.Context = &context
	}
	n, err := impl.TemplateVariables(t.Body)
	if err != nil {
		return usagef("templates create: --body: %v", err)
	}
	t.VariablesCount = n
	return nil
}

// checkSpec validates value against a schema of the embedded spec.
func checkSpec(schema string, value any) error { return contract.CheckSchema(schema, value) }
