package contract

import (
	"fmt"
	"sync"

	"github.com/iagente/iagente-sdr/gen/api"
)

// Spec is the embedded spec (gen/api's copy), parsed once per process and
// shared: parsing it took 100 ms and several MB each time, and the server,
// the dashboard and CheckSchema each did. Callers must not modify it; one
// that needs other servers or the like changes a shallow copy.
var Spec = sync.OnceValues(api.GetSpec)

// CheckSchema validates value against the spec's component schema name, for
// values that enter the store other than through a request (the admin CLI,
// a provider's listing): a value the API could not return would break every
// response that carries it. The error quotes the schema's x-pattern-message
// when it has one.
func CheckSchema(name string, value any) error {
	spec, err := Spec()
	if err != nil {
		return err
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
