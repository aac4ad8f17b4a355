package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// openStore opens and migrates the configured database for an admin command.
func openStore(ctx context.Context, getenv func(string) string) (*sqlstore.Stores, error) {
	cfg, err := app.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	opts, err := cfg.StoreOptions()
	if err != nil {
		return nil, err
	}
	db, err := sqlstore.OpenWith(ctx, cfg.DatabaseURL, opts)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return sqlstore.NewStores(db), nil
}

// parseArgs parses flags wherever they appear among the positional
// arguments, so "orgs create Acme --json" works as well as "--json Acme".
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func migrate(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) > 0 {
		return usagef("migrate takes no arguments")
	}
	cfg, err := app.FromEnv(getenv)
	if err != nil {
		return err
	}
	opts, err := cfg.StoreOptions()
	if err != nil {
		return err
	}
	db, err := sqlstore.OpenWith(ctx, cfg.DatabaseURL, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(out, "%s database is up to date\n", db.Dialect())
		return nil
	}
	fmt.Fprintf(out, "%s database: applied migrations %v\n", db.Dialect(), applied)
	return nil
}

func orgs(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usagef("orgs: expected 'orgs create NAME'")
	}
	fs := flag.NewFlagSet("orgs create", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return usagef("orgs create: %v", err)
	}
	name := strings.TrimSpace(strings.Join(pos, " "))
	if name == "" {
		return usagef("orgs create: NAME is required")
	}
	if !impl.PlainLineOK(name) {
		return usagef("orgs create: NAME must be one line of text without control characters")
	}
	db, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	org := &impl.Organization{Name: name}
	if err := db.Organizations.CreateOrganization(ctx, org); err != nil {
		return err
	}
	k, plain, err := auth.Issue(ctx, db.APIKeys, org.ID, "default")
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(out).Encode(map[string]any{
			"organization_id":   org.ID,
			"organization_name": org.Name,
			"key_id":            k.ID,
			"key_prefix":        k.Prefix,
			"api_key":           plain,
		})
	}
	fmt.Fprintf(out, "organization %d %q created\nAPI key (shown once, keep it): %s\n", org.ID, org.Name, plain)
	return nil
}

func keys(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("keys: expected create, list or revoke")
	}
	sub := args[0]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	org := fs.Int64("org", 0, "organization id")
	name := fs.String("name", "default", "a name for the key")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return usagef("keys %s: %v", sub, err)
	}
	if *org < 1 {
		return usagef("keys %s: --org ID is required", sub)
	}
	switch sub {
	case "create", "list":
		if len(pos) > 0 {
			return usagef("keys %s: unexpected argument %q", sub, pos[0])
		}
		if err := checkSpec("ApiKeyName", *name); sub == "create" && err != nil {
			return usagef("keys create: --name: %v", err)
		}
	case "revoke":
		if len(pos) != 1 {
			return usagef("keys revoke: expected exactly one KEY_ID")
		}
	default:
		return usagef("keys: unknown subcommand %q", sub)
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
		k, plain, err := auth.Issue(ctx, db.APIKeys, *org, *name)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(out).Encode(map[string]any{
				"organization_id": k.OrganizationID, "key_id": k.ID, "key_prefix": k.Prefix, "name": k.Name, "api_key": plain,
			})
		}
		fmt.Fprintf(out, "API key %d created for organization %d\nAPI key (shown once, keep it): %s\n", k.ID, k.OrganizationID, plain)
		return nil
	case "list":
		ks, err := db.APIKeys.ListAPIKeys(ctx, *org)
		if err != nil {
			return err
		}
		if *asJSON {
			rows := make([]map[string]any, 0, len(ks))
			for _, k := range ks {
				rows = append(rows, map[string]any{
					"key_id": k.ID, "name": k.Name, "key_prefix": k.Prefix, "created_at": k.CreatedAt,
					"last_used_at": k.LastUsedAt, "revoked_at": k.RevokedAt,
				})
			}
			return json.NewEncoder(out).Encode(rows)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tLAST USED\tREVOKED")
		for _, k := range ks {
			fmt.Fprintf(tw, "%d\t%s\t%s...\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix,
				k.CreatedAt.Format(time.RFC3339), fmtTime(k.LastUsedAt), fmtTime(k.RevokedAt))
		}
		return tw.Flush()
	default: // revoke
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil {
			return usagef("keys revoke: KEY_ID must be a number")
		}
		if err := db.APIKeys.RevokeAPIKey(ctx, *org, id); err != nil {
			return err
		}
		fmt.Fprintf(out, "API key %d revoked\n", id)
		return nil
	}
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
