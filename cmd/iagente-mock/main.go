// Command iagente-mock runs the fakes of the world around IAGENTE SDR, as
// real HTTP servers: Meta's Graph API for WhatsApp, Google's RBM API, and
// the reference webhook receiver. They live in their own binary so that
// the production server, cmd/iagente-sdr, links none of them.
//
//	iagente-mock whatsapp [--addr :9001] [--callback-url URL] [--app-secret S]
//	iagente-mock rbm [--addr :9002] [--webhook-url URL] [--client-token T]
//	iagente-mock receiver [--addr :9003] [--path /webhook] [--secret whsec_...]
//
// Each runs until SIGINT or SIGTERM, then shuts down gracefully: requests a
// fake is stalling on purpose end at once rather than holding up the exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/iagente/iagente-sdr/mocks/graphapi"
	"github.com/iagente/iagente-sdr/mocks/rbmapi"
	"github.com/iagente/iagente-sdr/mocks/webhookreceiver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "iagente-mock:", err)
		if _, ok := errors.AsType[usageError](err); ok {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `Usage:
  iagente-mock whatsapp [--addr :9001] [--callback-url URL] [--app-secret S]
                                           run a fake Meta Graph API (WhatsApp Cloud API); with a
                                           callback URL (the integration's /inbound/whatsapp/ID) it
                                           posts signed statuses after each send, app secret also
                                           from WHATSAPP_APP_SECRET; control API under /_graphapi/
  iagente-mock rbm [--addr :9002] [--webhook-url URL] [--client-token T]
                                           run a fake Google RCS Business Messaging API; with a
                                           webhook URL (the integration's /inbound/rcs/ID) it posts
                                           signed receipts and user messages, client token also
                                           from RBM_CLIENT_TOKEN; control API under /_rbm/
  iagente-mock receiver [--addr :9003] [--path /webhook] [--secret whsec_...]
                                           run the reference webhook receiver; secrets (repeat or
                                           comma-separate) also from WEBHOOK_SECRET; control API
                                           under /_receiver/

Each logs one line per request to stdout and stops on SIGINT or SIGTERM.
Point the server at the fakes with WHATSAPP_API_BASE_URL and RBM_API_BASE_URL.
`

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// run is the whole program, parameterised so that tests can start and stop
// it in-process. The fakes log to stdout, as they always have; a mistake in
// the command line gets the usage on stderr, above the error main prints.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := runCommand(ctx, args, getenv, stdout)
	if _, ok := errors.AsType[usageError](err); ok {
		fmt.Fprint(stderr, usage)
	}
	return err
}

func runCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("expected whatsapp, rbm or receiver")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "whatsapp":
		return whatsapp(ctx, args, getenv, stdout)
	case "rbm":
		return rbm(ctx, args, getenv, stdout)
	case "receiver":
		return receiver(ctx, args, getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usagef("unknown fake %q (whatsapp, rbm or receiver)", cmd)
	}
}

// parse parses flags; none of the commands takes a positional argument.
// -h prints the usage and stops the command without an error.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer, takes string) (help bool, err error) {
	fs.SetOutput(io.Discard)
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return true, nil
	case err != nil:
		return false, usagef("%s: %v (it takes %s)", fs.Name(), err, takes)
	case fs.NArg() > 0:
		return false, usagef("%s: unexpected argument %q (it takes %s)", fs.Name(), fs.Arg(0), takes)
	}
	return false, nil
}

// whatsapp runs the fake Graph API. Like the receiver's, its secret may be
// a flag: a throwaway secret of a local test; the environment keeps real
// ones out of ps and shell history.
func whatsapp(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("whatsapp", flag.ContinueOnError)
	addr := fs.String("addr", ":9001", "address to listen on")
	callback := fs.String("callback-url", "", "where to post Meta's webhooks (statuses, inbound messages)")
	secret := fs.String("app-secret", "", "the app secret that signs them (or WHATSAPP_APP_SECRET)")
	if help, err := parse(fs, args, out, "only --addr, --callback-url and --app-secret"); help || err != nil {
		return err
	}
	fake := graphapi.New()
	if *callback != "" {
		s := orEnv(*secret, getenv, "WHATSAPP_APP_SECRET")
		if s == "" {
			return usagef("whatsapp: --callback-url needs the app secret that signs the webhooks: --app-secret or WHATSAPP_APP_SECRET")
		}
		fake.SetCallback(*callback, s)
	}
	if err := fake.ListenAndServe(ctx, *addr, out); err != nil {
		return fmt.Errorf("whatsapp: %w", err)
	}
	return nil
}

// rbm runs the fake RBM API.
func rbm(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("rbm", flag.ContinueOnError)
	addr := fs.String("addr", ":9002", "address to listen on")
	webhook := fs.String("webhook-url", "", "the agent's webhook: where to post receipts and user messages")
	token := fs.String("client-token", "", "the client token that signs them (or RBM_CLIENT_TOKEN)")
	if help, err := parse(fs, args, out, "only --addr, --webhook-url and --client-token"); help || err != nil {
		return err
	}
	fake := rbmapi.New()
	if *webhook != "" {
		t := orEnv(*token, getenv, "RBM_CLIENT_TOKEN")
		if t == "" {
			return usagef("rbm: --webhook-url needs the client token that signs the events: --client-token or RBM_CLIENT_TOKEN")
		}
		fake.SetWebhook(*webhook, t)
	}
	if err := fake.ListenAndServe(ctx, *addr, out); err != nil {
		return fmt.Errorf("rbm: %w", err)
	}
	return nil
}

func orEnv(v string, getenv func(string) string, name string) string {
	if v != "" {
		return v
	}
	return getenv(name)
}

// receiver runs the reference webhook receiver. --secret is accepted,
// unlike provider credentials in iagente-sdr, because these are throwaway
// secrets of a local test webhook; WEBHOOK_SECRET keeps real ones out of ps
// and shell history.
func receiver(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("receiver", flag.ContinueOnError)
	addr := fs.String("addr", ":9003", "address to listen on")
	path := fs.String("path", "/webhook", "URL path that receives the deliveries")
	var secrets []string
	addSecrets := func(list string) {
		for s := range strings.SplitSeq(list, ",") {
			if s = strings.TrimSpace(s); s != "" {
				secrets = append(secrets, s)
			}
		}
	}
	fs.Func("secret", "signing secret whsec_...; repeat or comma-separate for several", func(v string) error {
		addSecrets(v)
		return nil
	})
	if help, err := parse(fs, args, out, "only --addr, --path and --secret"); help || err != nil {
		return err
	}
	if len(secrets) == 0 {
		addSecrets(getenv("WEBHOOK_SECRET"))
	}
	if len(secrets) == 0 {
		return usagef("receiver: needs the webhook's signing secret: --secret whsec_... or WEBHOOK_SECRET")
	}
	if err := webhookreceiver.Run(ctx, *addr, *path, secrets, out); err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	return nil
}
