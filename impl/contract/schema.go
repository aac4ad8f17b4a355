package contract

import (
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/iagente/iagente-sdr/gen/api"
)

var (
	specOnce sync.Once
	spec     *openapi3.T
	specErr  error
)

// CheckSchema validates value against the spec's component schema name, for
// values that enter the store other than through a request (the admin CLI,
// a provider's listing): a value the API could not return would break every
// response that carries it. The error quotes the schema's x-pattern-message
// when it has one.
func CheckSchema(name string, value any) error {
	specOnce.Do(func() { spec, specErr = api.GetSpec() })
	if specErr != nil {
		return specErr
	}
	ref, ok := spec.Components.Schemas[name]
	if !ok || ref.Value == nil {
		return fmt.Errorf("the spec has no schema %s", name)
	}
	if err := ref.Value.VisitJSON(value, schemaOptions()...); err != nil {
		if m, _ := PatternMessage(ref.Value); m != "" {
			return fmt.Errorf("%q %s", value, m)
		}
		return fmt.Errorf("%q is not a valid %s", value, name)
	}
	return nil
}
