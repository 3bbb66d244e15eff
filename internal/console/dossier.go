package console

import "net/http"

// Dossiers builds entity dossiers (package dossier).
type Dossiers interface{}

func (c *console) entityPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := c.o.Statuses.Status(id); !ok {
		c.render(w, r, http.StatusNotFound, "error", errorPage{Message: id})
		return
	}
	c.render(w, r, http.StatusOK, "entity", struct{ ID string }{id})
}

func (c *console) planPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "plan", nil)
}
