package openapi

//go:generate go tool oapi-codegen -config oapi-codegen-api.yaml openapi.yaml
//go:generate go tool oapi-codegen -config oapi-codegen-client.yaml openapi.yaml
//go:generate go tool oapi-codegen -config oapi-codegen-webhooks.yaml webhooks.yaml
//go:generate go run ./samplegen -spec openapi.yaml -out ../gen/samples
