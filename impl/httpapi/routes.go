package httpapi

import (
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// specRoutes finds the spec's operation of a request from the route echo
// has already matched, instead of matching the path again: kin-openapi's
// router tries the spec's paths one by one with gorilla/mux's regular
// expressions, which was 4 % of a GET /leads/{id} and 16 of its
// allocations. It gives what that router gives (a test compares them on
// every operation); whatever it does not know, the router still decides.
type specRoutes map[string]map[string]*specRoute // echo path -> method -> route

// specRoute is one operation, and where its path parameters are.
type specRoute struct {
	route    *routers.Route
	segments int            // of the path, BasePath included
	params   map[int]string // segment index -> parameter name
}

// newSpecRoutes indexes the operations of spec, whose one server is
// BasePath, by the path echo registers them under (api.RegisterHandlers
// turns /leads/{id} into BasePath + /leads/:id).
func newSpecRoutes(spec *openapi3.T) specRoutes {
	out := specRoutes{}
	var server *openapi3.Server
	if len(spec.Servers) > 0 {
		server = spec.Servers[0]
	}
	for path, item := range spec.Paths.Map() {
		segs := strings.Split(strings.TrimPrefix(BasePath+path, "/"), "/")
		params := map[int]string{}
		for i, seg := range segs {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				params[i] = seg[1 : len(seg)-1]
				segs[i] = ":" + params[i]
			}
		}
		echoPath := "/" + strings.Join(segs, "/")
		for method, op := range item.Operations() {
			if out[echoPath] == nil {
				out[echoPath] = map[string]*specRoute{}
			}
			out[echoPath][method] = &specRoute{
				route:    &routers.Route{Spec: spec, Server: server, Path: path, PathItem: item, Method: method, Operation: op},
				segments: len(segs), params: params,
			}
		}
	}
	return out
}

// find returns the operation of req, which echo routed to echoPath, and its
// path parameters as they are written in the request (still escaped, as
// kin-openapi's router gives them); ok is false when it cannot tell.
func (r specRoutes) find(echoPath string, req *http.Request) (*routers.Route, map[string]string, bool) {
	sr := r[echoPath][req.Method]
	if sr == nil {
		return nil, nil, false
	}
	path := strings.TrimPrefix(req.URL.EscapedPath(), "/")
	params := make(map[string]string, len(sr.params))
	for i := 0; i < sr.segments; i++ {
		seg, rest, more := strings.Cut(path, "/")
		if more != (i < sr.segments-1) {
			return nil, nil, false // not the template's number of segments
		}
		if name, ok := sr.params[i]; ok {
			if seg == "" {
				return nil, nil, false
			}
			params[name] = seg
		}
		path = rest
	}
	return sr.route, params, true
}
