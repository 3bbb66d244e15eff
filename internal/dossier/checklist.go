package dossier

// ChecklistItem is one document of an application. Its label is the i18n
// key "checklist.<Key>".
type ChecklistItem struct {
	Key string `json:"key"`
	// Supplier is "transferwatch" when transferwatch fills in part of the
	// document from its figures (Fills says what; the company completes
	// and signs it), else "company": the company supplies it.
	Supplier string `json:"supplier"`
	// Fills are what transferwatch fills in (i18n keys "fill.<x>"):
	// volumes, categories, recipients, flow_diagram, counting_method.
	Fills []string `json:"fills"`
	// Section is the section of the evidence pack holding those figures.
	Section string `json:"section,omitempty"`
}

// Suppliers of a checklist item.
const (
	SupplierTransferwatch = "transferwatch"
	SupplierCompany       = "company"
)

// What transferwatch fills in.
const (
	FillVolumes        = "volumes"
	FillCategories     = "categories"
	FillRecipients     = "recipients"
	FillFlowDiagram    = "flow_diagram"
	FillCountingMethod = "counting_method"
)

// Checklist returns the documents of an application (2022 Measures Art. 6
// and the CAC's application guide; the seed's list), in the order of the
// application.
func Checklist() []ChecklistItem {
	tw := func(key, section string, fills ...string) ChecklistItem {
		return ChecklistItem{Key: key, Supplier: SupplierTransferwatch, Fills: fills, Section: section}
	}
	co := func(key string) ChecklistItem {
		return ChecklistItem{Key: key, Supplier: SupplierCompany, Fills: []string{}}
	}
	return []ChecklistItem{
		tw("declaration_form", "counters", FillVolumes, FillCategories, FillRecipients),
		tw("self_assessment", "method", FillVolumes, FillCategories, FillRecipients, FillCountingMethod),
		tw("transfer_agreement", "flows", FillRecipients, FillCategories),
		tw("pipia", "counters", FillVolumes, FillCategories),
		co("business_licence"),
		tw("data_flow_diagrams", "flows", FillFlowDiagram, FillRecipients),
		co("system_architecture"),
		co("security_measures"),
		co("recipient_credentials"),
		co("privacy_policies_zh"),
		co("consent_screenshots"),
		co("internal_policies"),
	}
}
