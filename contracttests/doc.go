// Package contracttests is the contract suite of the REST API, one file per
// resource: how leads behave is in leads_test.go, handoffs in
// handoffs_test.go, the webhook API in webhooks_test.go, deliveries in
// deliveries_test.go and delivery_retries_test.go, events in
// webhook_events_test.go, and so on.
//
// It talks to a server over HTTP, through the generated client (gen/client)
// or raw requests, and validates every response against
// openapi/openapi.yaml itself, independently of the server's own response
// validation. Every error answer is checked by one assertion, wantError
// (helpers_test.go).
//
// By default it starts the service in-process, once on SQLite and once on
// PostgreSQL (when TEST_POSTGRES_URL is set; `make test` starts a throwaway
// cluster). Point it at any running server instead with
//
//	CONTRACT_BASE_URL=https://host/api/v1 CONTRACT_API_KEY=sk_live_... go test ./contracttests/
//
// # Grey-box tests
//
// The API cannot create organizations, integrations or templates, disable
// an integration, revoke a key nobody holds, or show the outbox of events.
// A test that needs one of those is grey-box: it gets the in-process
// database's seeder (seeder_test.go) from tg.seed(t) and calls it by name.
// The seeder is the suite's only way into the database; nothing else
// reads or writes it but the harness that starts the service. On a remote
// target, which has no database the suite can reach, tg.seed skips the
// test with "grey-box: needs the in-process database". These are:
//
//   - TestInboundWhatsAppHandshake and TestInboundWhatsAppMessages: an
//     integration with an app secret and a verify token; the outbox;
//   - TestMessageHistory, TestListIntegrations,
//     TestOrganizationsSeeNothingOfEachOther and TestRCSIntegrationChoice:
//     organizations with integrations of their own, some disabled;
//   - TestListWhatsAppTemplates: templates;
//   - TestInboundControlCharacters (safety_test.go): an integration with an
//     app secret;
//   - the subtests TestWhatsAppSendEveryTypeThroughSandbox/message.sent
//     event (the outbox), TestWhatsAppTargets/inactive integration, and
//     TestWhatsAppTemplates/not approved by Meta, /a name in two languages
//     and /another organization's template;
//   - the free-form WhatsApp sends of TestWhatsAppSendEveryTypeThroughSandbox,
//     whatsapp_cloud_test.go and TestIdempotentWhatsAppSend: WhatsApp's
//     24-hour window must be open, so the contact writes first
//     (seeder.ContactWrote), which the sandbox has no webhook for.
//
// The main organization of an in-process target also gets what `serve
// --dev` gives: the API reference's contact has written to integration 1
// (seeder.DevContactWrote), so the reference's WhatsApp text runs verbatim.
//
// Two seeded things have a remote stand-in. A second organization
// (tg.newOrg) is CONTRACT_API_KEY_B, and a revoked key (tg.revokedKey) is
// CONTRACT_REVOKED_API_KEY; without them the tests that need them skip
// (tenant isolation, 401 for a revoked key). A test that needs an empty
// organization of its own (tg.freshOrg: totals, paging, the cap of active
// API keys) skips remotely, where organizations are not empty.
//
// # In-process only
//
// Some tests start servers of their own, configured as no remote server
// can be, and skip under CONTRACT_BASE_URL whether or not they seed: those
// that deliver webhooks to receivers on this machine's loopback
// (deliveries_test.go, delivery_retries_test.go, webhook_events_test.go,
// seed_snippets_test.go), the WhatsApp Cloud API adapter against a fake
// Graph API (whatsapp_cloud_test.go, and TestIdempotentWhatsAppSend), the
// fakes calling the server back with statuses, templates and RCS users
// (message_lifecycle_test.go, template_sync_test.go, rcs_inbound_test.go),
// and
// TestRateLimit and TestAddressLimit, which lower the limits. The delivery
// guarantees (delivery_guarantees_test.go) kill and race real server
// processes on one PostgreSQL database, given by TEST_POSTGRES_URL, and
// append their summary to GUARANTEES_REPORT; so does
// TestIdempotentSendSurvivesKill9 (idempotency_crash_test.go), on both
// databases.
//
// # Replicas
//
// replicas_test.go runs only inside scripts/replicas.sh (three replicas
// behind haproxy on PostgreSQL and Redis; REPLICAS_DIR says where), and
// skips otherwise, unless REQUIRE_REPLICAS=1 makes that a failure.
package contracttests
