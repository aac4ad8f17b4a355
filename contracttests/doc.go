// Package contracttests is the black-box contract suite of the REST API.
//
// It talks to a server only through the generated client (gen/client) and
// validates every response it receives against openapi/openapi.yaml itself,
// independently of the server's own response validation.
//
// By default it starts the service in-process, once on SQLite and once on
// PostgreSQL (when TEST_POSTGRES_URL is set; `make test` starts a throwaway
// cluster). Point it at any running server instead with
//
//	CONTRACT_BASE_URL=https://host/api/v1 CONTRACT_API_KEY=sk_live_... go test ./contracttests/
//
// A deployed server cannot be asked to create organizations, revoke keys or
// lower its rate limits, so the tests that need those are skipped there
// unless CONTRACT_API_KEY_B (a key of a second organization, for tenant
// isolation) and CONTRACT_REVOKED_API_KEY are given.
package contracttests
