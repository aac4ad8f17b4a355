package httpapi

import (
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
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

// oneSegmentRouter registers the API's operations on echo, each handler of
// a path that ends with a parameter guarded so that the parameter is one
// path segment, as in the spec's templates. Echo lets a route's last
// parameter take the rest of the path, slashes and all: GET
// /api/v1/leads/2/more reached GET /leads/{id} with id "2/more", and
// answered 400 for a path the API does not have. Such a request is now
// echo's 404, like any other path outside the spec. The guard is applied
// once, at registration.
type oneSegmentRouter struct{ e *echo.Echo }

func (r oneSegmentRouter) add(method, path string, h echo.HandlerFunc, m []echo.MiddlewareFunc) *echo.Route {
	last := path[strings.LastIndexByte(path, '/')+1:]
	if name, isParam := strings.CutPrefix(last, ":"); isParam {
		next := h
		h = func(c echo.Context) error {
			if strings.Contains(c.Param(name), "/") {
				return echo.ErrNotFound
			}
			return next(c)
		}
	}
	return r.e.Add(method, path, h, m...)
}

func (r oneSegmentRouter) CONNECT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodConnect, path, h, m)
}

func (r oneSegmentRouter) DELETE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodDelete, path, h, m)
}

func (r oneSegmentRouter) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodGet, path, h, m)
}

func (r oneSegmentRouter) HEAD(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodHead, path, h, m)
}

func (r oneSegmentRouter) OPTIONS(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodOptions, path, h, m)
}

func (r oneSegmentRouter) PATCH(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPatch, path, h, m)
}

func (r oneSegmentRouter) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPost, path, h, m)
}

func (r oneSegmentRouter) PUT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPut, path, h, m)
}

func (r oneSegmentRouter) TRACE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodTrace, path, h, m)
}
