package console

import (
	"html/template"
	"maps"
	"net/url"
	"strconv"
	"strings"
)

// pageNames are the page templates, each templates/<name>.html defining
// "content" inside templates/layout.html.
var pageNames = []string{"entities", "entity", "plan", "login", "error"}

// parsePages parses every page with the layout. The templates are embedded,
// so an error is a bug caught by any test.
func parsePages() map[string]*template.Template {
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		out[name] = template.Must(template.New(name).Funcs(funcs()).
			ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}

func funcs() template.FuncMap {
	return template.FuncMap{
		"num":        formatNum,
		"counterKey": counterKey,
		// {{.Y | plus 4}}: the piped value comes last.
		"plus":  func(d, v float64) float64 { return v + d },
		"minus": func(d, v float64) float64 { return v - d },
		"pct":   func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" },
	}
}

// formatNum writes n with thousands separators: 1,234,567.
func formatNum(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// LangURL is the page's address in language code.
func (p page) LangURL(code string) string {
	q := url.Values{}
	maps.Copy(q, p.Query)
	q.Set("lang", code)
	return p.Path + "?" + q.Encode()
}
