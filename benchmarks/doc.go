// Package benchmarks measures the REST API in-process: a request goes through
// the whole middleware stack (request id and access log, body limit, response
// validation, auth, rate limit, request validation, handler) into a real
// SQLite or PostgreSQL database.
//
// Run them with scripts/bench.sh, which starts a throwaway PostgreSQL, keeps
// the raw output in artifacts/bench/ and summarises it with benchstat; the
// figures and the machine they came from are in docs/benchmarks.md. The
// benchmarks check every response's status code but never assert timings.
package benchmarks
