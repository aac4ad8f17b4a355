package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A value is an example's JSON value with its objects' keys in the order
// the spec writes them: nil, bool, number (as written), string, []any or
// *object.
type object struct {
	keys []string
	vals []any
}

type number string

func toValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return toValue(n.Alias)
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			return n.Value == "true", nil
		case "!!int", "!!float":
			var f float64
			if err := json.Unmarshal([]byte(n.Value), &f); err != nil {
				return nil, fmt.Errorf("line %d: %q is not a JSON number", n.Line, n.Value)
			}
			return number(n.Value), nil
		case "!!str":
			return n.Value, nil
		}
		return nil, fmt.Errorf("line %d: unsupported YAML tag %s", n.Line, n.ShortTag())
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := toValue(c)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.MappingNode:
		o := &object{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := toValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, n.Content[i].Value)
			o.vals = append(o.vals, v)
		}
		return o, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// quote is a JSON string literal with UTF-8 kept as is; Python, JavaScript
// and C# (for what examples hold) read it the same way.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// literal renders values in one language's syntax.
type literal struct {
	indent                 string
	null, yes, no          string
	open, close, sep       string // object: open, close, key/value separator
	listOpen, listClose    string
	key                    func(string) string
	str                    func(string) string
	emptyObject            string
	objectList, stringList string // C#: the array's opening for objects, for scalars
}

func (l *literal) render(v any, depth int) string {
	pad := strings.Repeat(l.indent, depth)
	inner := strings.Repeat(l.indent, depth+1)
	switch x := v.(type) {
	case nil:
		return l.null
	case bool:
		if x {
			return l.yes
		}
		return l.no
	case number:
		return string(x)
	case string:
		return l.str(x)
	case []any:
		open, close := l.listOpen, l.listClose
		if l.objectList != "" {
			open = l.stringList
			for _, e := range x {
				if _, ok := e.(*object); ok {
					open = l.objectList
				}
			}
		}
		if len(x) == 0 {
			return open + close
		}
		flat := true
		for _, e := range x {
			switch e.(type) {
			case *object, []any:
				flat = false
			}
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = l.render(e, depth+1)
		}
		if flat {
			return open + strings.Join(parts, ", ") + close
		}
		return strings.TrimRight(open, " ") + "\n" + inner + strings.Join(parts, ",\n"+inner) + "\n" + pad + strings.TrimLeft(close, " ")
	case *object:
		if len(x.keys) == 0 {
			return l.emptyObject
		}
		parts := make([]string, len(x.keys))
		for i, k := range x.keys {
			parts[i] = l.key(k) + l.sep + l.render(x.vals[i], depth+1)
		}
		return l.open + "\n" + inner + strings.Join(parts, ",\n"+inner) + "\n" + pad + l.close
	}
	panic(fmt.Sprintf("unexpected value %T", v))
}

var (
	jsonLit = &literal{indent: "  ", null: "null", yes: "true", no: "false", open: "{", close: "}", sep: ": ",
		listOpen: "[", listClose: "]", key: quote, str: quote, emptyObject: "{}"}
	pythonLit = &literal{indent: "    ", null: "None", yes: "True", no: "False", open: "{", close: "}", sep: ": ",
		listOpen: "[", listClose: "]", key: quote, str: quote, emptyObject: "{}"}
	jsLit = &literal{indent: "  ", null: "null", yes: "true", no: "false", open: "{", close: "}", sep: ": ",
		listOpen: "[", listClose: "]", key: jsKey, str: quote, emptyObject: "{}"}
	phpLit = &literal{indent: "    ", null: "null", yes: "true", no: "false", open: "[", close: "]", sep: " => ",
		listOpen: "[", listClose: "]", key: phpString, str: phpString, emptyObject: "(object) []"}
	csLit = &literal{indent: "    ", null: "(object?)null", yes: "true", no: "false", open: "new {", close: "}", sep: " = ",
		listOpen: "new[] { ", listClose: " }", key: csName, str: csString, emptyObject: "new { }",
		objectList: "new object[] { ", stringList: "new[] { "}
)

// marshal is v as JSON, indented by indent ("" for one line).
func marshal(v any, indent string) (string, error) {
	if indent != "" {
		return jsonLit.render(v, 0), nil
	}
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case nil:
			b.WriteString("null")
		case bool:
			fmt.Fprint(&b, x)
		case number:
			b.WriteString(string(x))
		case string:
			b.WriteString(quote(x))
		case []any:
			b.WriteByte('[')
			for i, e := range x {
				if i > 0 {
					b.WriteByte(',')
				}
				walk(e)
			}
			b.WriteByte(']')
		case *object:
			b.WriteByte('{')
			for i, k := range x.keys {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(quote(k) + ":")
				walk(x.vals[i])
			}
			b.WriteByte('}')
		}
	}
	walk(v)
	if !json.Valid([]byte(b.String())) {
		return "", fmt.Errorf("example does not render as JSON: %s", b.String())
	}
	return b.String(), nil
}

var identifier = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

func jsKey(k string) string {
	if identifier.MatchString(k) {
		return k
	}
	return quote(k)
}

// phpString is a double-quoted PHP string: $ would interpolate.
func phpString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s) + `"`
}

// csString is a C# string literal; for the characters examples hold, JSON
// escapes are C# escapes.
func csString(s string) string { return quote(s) }

// csKeywords may only name an anonymous type's property with an @.
var csKeywords = map[string]bool{"abstract": true, "as": true, "base": true, "bool": true, "break": true, "byte": true,
	"case": true, "catch": true, "char": true, "checked": true, "class": true, "const": true, "continue": true,
	"decimal": true, "default": true, "delegate": true, "do": true, "double": true, "else": true, "enum": true,
	"event": true, "explicit": true, "extern": true, "false": true, "finally": true, "fixed": true, "float": true,
	"for": true, "foreach": true, "goto": true, "if": true, "implicit": true, "in": true, "int": true,
	"interface": true, "internal": true, "is": true, "lock": true, "long": true, "namespace": true, "new": true,
	"null": true, "object": true, "operator": true, "out": true, "override": true, "params": true, "private": true,
	"protected": true, "public": true, "readonly": true, "ref": true, "return": true, "sbyte": true, "sealed": true,
	"short": true, "sizeof": true, "stackalloc": true, "static": true, "string": true, "struct": true,
	"switch": true, "this": true, "throw": true, "true": true, "try": true, "typeof": true, "uint": true,
	"ulong": true, "unchecked": true, "unsafe": true, "ushort": true, "using": true, "virtual": true,
	"void": true, "volatile": true, "while": true}

func csName(k string) string {
	if csKeywords[k] {
		return "@" + k
	}
	return k
}

// render holds what every language's sample of one request shares.
type render struct {
	method, url string
	headers     [][2]string // required headers other than auth and content type
	result      string      // snake_case name of the response's value; "" for none
	status      int
}

func (r *render) hasResult() bool { return r.result != "" && r.status != 204 }

func camel(snake string) string {
	parts := strings.Split(snake, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func (r *render) all(body any) map[string]string {
	return map[string]string{
		"curl":   r.curl(body),
		"python": r.python(body),
		"node":   r.node(body),
		"php":    r.php(body),
		"csharp": r.csharp(body),
	}
}

func (r *render) curl(body any) string {
	lines := []string{fmt.Sprintf(`curl -X %s "%s"`, r.method, r.url), fmt.Sprintf(`-H "Authorization: Bearer %s"`, Key)}
	for _, h := range r.headers {
		lines = append(lines, fmt.Sprintf(`-H "%s: %s"`, h[0], h[1]))
	}
	if body != nil || r.method == "POST" || r.method == "PUT" || r.method == "PATCH" {
		if body != nil {
			lines = append(lines, `-H "Content-Type: application/json"`)
			// In single quotes the shell takes everything literally but a
			// single quote, which closes, escapes and reopens.
			lines = append(lines, "-d '"+strings.ReplaceAll(jsonLit.render(body, 0), "'", `'\''`)+"'")
		}
	}
	return strings.Join(lines, " \\\n  ")
}

func (r *render) python(body any) string {
	var b strings.Builder
	b.WriteString("import requests\n\n")
	fmt.Fprintf(&b, "response = requests.%s(\n", strings.ToLower(r.method))
	fmt.Fprintf(&b, "    %s,\n", quote(r.url))
	headers := []string{fmt.Sprintf(`"Authorization": "Bearer %s"`, Key)}
	for _, h := range r.headers {
		headers = append(headers, quote(h[0])+": "+quote(h[1]))
	}
	fmt.Fprintf(&b, "    headers={%s},\n", strings.Join(headers, ", "))
	if body != nil {
		fmt.Fprintf(&b, "    json=%s,\n", pythonLit.render(body, 1))
	}
	b.WriteString(")\n")
	if r.hasResult() {
		fmt.Fprintf(&b, "%s = response.json()\n", r.result)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (r *render) node(body any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "const response = await fetch(%s, {\n", quote(r.url))
	if r.method != "GET" {
		fmt.Fprintf(&b, "  method: %s,\n", quote(r.method))
	}
	headers := []string{fmt.Sprintf(`"Authorization": "Bearer %s"`, Key)}
	for _, h := range r.headers {
		headers = append(headers, quote(h[0])+": "+quote(h[1]))
	}
	if body != nil {
		headers = append(headers, `"Content-Type": "application/json"`)
	}
	fmt.Fprintf(&b, "  headers: {\n    %s\n  }", strings.Join(headers, ",\n    "))
	if body != nil {
		fmt.Fprintf(&b, ",\n  body: JSON.stringify(%s)", jsLit.render(body, 1))
	}
	b.WriteString("\n});\n")
	if r.hasResult() {
		fmt.Fprintf(&b, "const %s = await response.json();\n", camel(r.result))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (r *render) php(body any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ch = curl_init(%s);\n", phpString(r.url))
	b.WriteString("curl_setopt_array($ch, [\n    CURLOPT_RETURNTRANSFER => true,\n")
	switch {
	case r.method == "POST" && body != nil:
		b.WriteString("    CURLOPT_POST => true,\n")
	case r.method != "GET":
		fmt.Fprintf(&b, "    CURLOPT_CUSTOMREQUEST => %s,\n", phpString(r.method))
	}
	headers := []string{phpString("Authorization: Bearer " + Key)}
	for _, h := range r.headers {
		headers = append(headers, phpString(h[0]+": "+h[1]))
	}
	if body != nil {
		headers = append(headers, phpString("Content-Type: application/json"))
	}
	fmt.Fprintf(&b, "    CURLOPT_HTTPHEADER => [\n        %s\n    ]", strings.Join(headers, ",\n        "))
	if body != nil {
		fmt.Fprintf(&b, ",\n    CURLOPT_POSTFIELDS => json_encode(%s)", phpLit.render(body, 1))
	}
	b.WriteString("\n]);\n")
	if r.hasResult() {
		fmt.Fprintf(&b, "$%s = json_decode(curl_exec($ch), true);\n", r.result)
	} else {
		b.WriteString("curl_exec($ch);\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (r *render) csharp(body any) string {
	var b strings.Builder
	if body != nil {
		b.WriteString("using System.Text;\nusing System.Text.Json;\n\n")
	}
	b.WriteString("using var client = new HttpClient();\n")
	fmt.Fprintf(&b, "client.DefaultRequestHeaders.Add(\"Authorization\", \"Bearer %s\");\n", Key)
	for _, h := range r.headers {
		fmt.Fprintf(&b, "client.DefaultRequestHeaders.Add(%s, %s);\n", csString(h[0]), csString(h[1]))
	}
	verb := map[string]string{"GET": "GetAsync", "POST": "PostAsync", "PUT": "PutAsync", "PATCH": "PatchAsync",
		"DELETE": "DeleteAsync"}[r.method]
	if verb == "" {
		verb = "SendAsync" // never reached: the spec uses the five verbs above
	}
	switch {
	case body != nil:
		fmt.Fprintf(&b, "var payload = %s;\n", csLit.render(body, 0))
		fmt.Fprintf(&b, "var response = await client.%s(\n    %s,\n", verb, csString(r.url))
		b.WriteString("    new StringContent(JsonSerializer.Serialize(payload), Encoding.UTF8, \"application/json\")\n);\n")
	case r.method == "POST" || r.method == "PUT" || r.method == "PATCH":
		fmt.Fprintf(&b, "var response = await client.%s(%s, null);\n", verb, csString(r.url))
	default:
		fmt.Fprintf(&b, "var response = await client.%s(%s);\n", verb, csString(r.url))
	}
	if r.hasResult() {
		fmt.Fprintf(&b, "var %s = await response.Content.ReadAsStringAsync();\n", camel(r.result))
	}
	return strings.TrimSuffix(b.String(), "\n")
}
