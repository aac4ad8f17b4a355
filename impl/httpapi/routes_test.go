package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl/contract"
)

// TestSpecRoutesAgreeWithTheRouter: for every operation of the spec, and
// path parameters plain, escaped, with an escaped slash or non-ASCII, the
// route echo picks leads specRoutes to what kin-openapi's router finds:
// the same operation, path item, server and parameters. A request
// specRoutes cannot place is left to the router.
func TestSpecRoutesAgreeWithTheRouter(t *testing.T) {
	shared, err := contract.Spec()
	if err != nil {
		t.Fatal(err)
	}
	copied := *shared
	spec := &copied
	spec.Servers = openapi3.Servers{{URL: BasePath}}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	routes := newSpecRoutes(spec)

	// The generated registration, as NewServer does it; a middleware
	// notes the path echo matched instead of calling the handler.
	e := echo.New()
	var matched string
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { matched = c.Path(); return nil }
	})
	api.RegisterHandlersWithBaseURL(e, api.NewStrictHandler(nil, nil), BasePath)

	checked := 0
	perValue := map[string]int{}
	for path, item := range spec.Paths.Map() {
		for method := range item.Operations() {
			for _, value := range []string{"42", "a%20b", "x%2Fy", "%C3%A7%C3%A3o", "ação", "1.5e3"} {
				target := BasePath + path
				for _, name := range []string{"{id}", "{delivery_id}"} {
					target = strings.ReplaceAll(target, name, value)
				}
				req := httptest.NewRequest(method, target+"?x=1", nil)
				matched = ""
				e.ServeHTTP(httptest.NewRecorder(), req)
				wantRoute, wantParams, wantErr := router.FindRoute(req)
				route, params, ok := routes.find(matched, req)
				if !ok {
					if wantErr == nil && matched != "" {
						t.Errorf("%s %s (echo: %q): not found, the router found %s", method, target, matched, wantRoute.Path)
					}
					continue
				}
				checked++
				perValue[value]++
				switch {
				case wantErr != nil:
					t.Errorf("%s %s: found %s, the router found nothing (%v)", method, target, route.Path, wantErr)
				case route.Path != wantRoute.Path || route.Method != wantRoute.Method || route.Operation != wantRoute.Operation ||
					route.PathItem != wantRoute.PathItem || route.Server != wantRoute.Server || route.Spec != wantRoute.Spec:
					t.Errorf("%s %s: route %s %s, the router's %s %s", method, target, route.Method, route.Path, wantRoute.Method, wantRoute.Path)
				case len(params) != len(wantParams):
					t.Errorf("%s %s: parameters %v, the router's %v", method, target, params, wantParams)
				default:
					for k, v := range wantParams {
						if params[k] != v {
							t.Errorf("%s %s: parameter %s %q, the router's %q", method, target, k, params[k], v)
						}
					}
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d requests were placed without the router", checked)
	}
	for _, value := range []string{"42", "a%20b", "x%2Fy", "%C3%A7%C3%A3o", "ação", "1.5e3"} {
		if perValue[value] == 0 {
			t.Errorf("no request with the parameter %q was placed without the router", value)
		}
	}
	t.Logf("placed without the router: %v", perValue)
	// What echo did not route to an operation is the router's to decide.
	for _, target := range []string{BasePath + "/leads/", BasePath + "/leads/1/", BasePath + "//leads/1", "/healthz"} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		matched = ""
		e.ServeHTTP(httptest.NewRecorder(), req)
		if route, _, ok := routes.find(matched, req); ok {
			t.Errorf("GET %s (echo: %q): placed on %s", target, matched, route.Path)
		}
	}
}
