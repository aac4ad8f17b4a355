package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/auth"
)

// users manages dashboard users. A new user's password is generated and
// printed once, unless --password-stdin reads one (so it never appears in
// the process list or the shell history).
func users(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return usagef("users: expected create or list")
	}
	sub := args[0]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	org := fs.Int64("org", 0, "organization id")
	email := fs.String("email", "", "the user's e-mail, used to sign in")
	name := fs.String("name", "", "the user's name")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return usagef("users %s: %v", sub, err)
	}
	if len(pos) > 0 {
		return usagef("users %s: unexpected argument %q", sub, pos[0])
	}
	if *org < 1 {
		return usagef("users %s: --org ID is required", sub)
	}
	switch sub {
	case "create":
		addr, err := mail.ParseAddress(*email)
		if err != nil || addr.Address != strings.TrimSpace(*email) || len(addr.Address) > impl.MaxEmailBytes || !impl.PlainLineOK(addr.Address) {
			return usagef("users create: --email must be an e-mail address such as ana@example.com")
		}
		if !impl.PlainLineOK(*name) {
			return usagef("users create: --name must be one line of text without control characters")
		}
	case "list":
	default:
		return usagef("users: unknown subcommand %q", sub)
	}
	var password string
	generated := false
	if sub == "create" {
		if *fromStdin {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && err != io.EOF {
				return fmt.Errorf("read password: %w", err)
			}
			password = strings.TrimRight(line, "\r\n")
		} else {
			if password, err = auth.NewPassword(); err != nil {
				return err
			}
			generated = true
		}
		if err := auth.ValidatePassword(password); err != nil {
			return usagef("users create: %v", err)
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
	if sub == "list" {
		list, err := db.Users.ListUsers(ctx, *org)
		if err != nil {
			return err
		}
		if *asJSON {
			rows := make([]map[string]any, 0, len(list))
			for _, u := range list {
				rows = append(rows, map[string]any{"user_id": u.ID, "email": u.Email, "name": u.Name,
					"created_at": u.CreatedAt, "last_login_at": u.LastLoginAt})
			}
			return json.NewEncoder(out).Encode(rows)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tE-MAIL\tNAME\tCREATED\tLAST LOGIN")
		for _, u := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, u.CreatedAt.Format(time.RFC3339), fmtTime(u.LastLoginAt))
		}
		return tw.Flush()
	}
	u, err := createUser(ctx, db.Users, *org, *email, *name, password)
	if err != nil {
		return err
	}
	if *asJSON {
		rec := map[string]any{"user_id": u.ID, "organization_id": u.OrganizationID, "email": u.Email, "name": u.Name}
		if generated {
			rec["password"] = password
		}
		return json.NewEncoder(out).Encode(rec)
	}
	fmt.Fprintf(out, "user %d <%s> created in organization %d\n", u.ID, u.Email, u.OrganizationID)
	if generated {
		fmt.Fprintf(out, "password (shown once, keep it): %s\n", password)
	}
	return nil
}

// createUser hashes the password and stores the user.
func createUser(ctx context.Context, db impl.UserStore, orgID int64, email, name, password string) (*impl.User, error) {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return nil, err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	u := &impl.User{OrganizationID: orgID, Email: email, Name: name, PasswordHash: hash}
	if err := db.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}
