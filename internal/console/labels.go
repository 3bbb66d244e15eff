package console

import "github.com/transferwatch/transferwatch/internal/i18n"

// lang is a language of the console: that of the shared catalogue.
type lang = i18n.Lang

const (
	langEN = i18n.EN
	langZH = i18n.ZH
)

// parseLang returns the language named s ("en", "zh", "zh-CN", ...).
func parseLang(s string) (lang, bool) {
	if s == "" {
		return langEN, false
	}
	return i18n.ParseLang(s)
}

// catalog gives the console's labels: its own keys (navigation, filters,
// login) first, then the shared catalogue of package i18n, which the
// evidence pack uses too.
type catalog struct {
	own    map[string][2]string // key → English, Chinese
	shared *i18n.Catalog
}

func newCatalog() *catalog { return &catalog{own: consoleMessages(), shared: i18n.New()} }

// T returns the text of key in l; an unknown key comes back as "⟦key⟧",
// which the tests look for.
func (c *catalog) T(l lang, key string) string {
	if m, ok := c.own[key]; ok {
		if l == langZH {
			return m[1]
		}
		return m[0]
	}
	return c.shared.T(l, key)
}

// consoleMessages are the labels only the console uses.
func consoleMessages() map[string][2]string {
	return map[string][2]string{
		"console.name":          {"transferwatch console", "transferwatch 控制台"},
		"console.skip":          {"Skip to content", "跳到正文"},
		"console.language":      {"Language", "语言"},
		"console.logout":        {"Log out", "退出"},
		"console.yes":           {"yes", "是"},
		"console.no":            {"no", "否"},
		"console.numbers":       {"The figures of the chart", "图表数据"},
		"console.forecast":      {"forecast", "预测"},
		"console.covered":       {"covered", "已覆盖"},
		"console.outside_scope": {"outside scope", "超出范围"},
		"plan.intro":            {"Each entity that needs an approval now or is forecast to need one, most urgent first: the application's steps from today or from the start-by date, each taking its shortest (dark) to its longest (light) time in practice; then the documents of the application.", "现在需要或预测将需要批准的数据处理者，按紧迫程度排序：从今日或最早启动日起的申报步骤，每一步在实践中从最短（深色）到最长（浅色）用时；其后为申报材料清单。"},
		"plan.none":             {"No entity needs or is forecast to need an approval.", "没有数据处理者现在或预计需要批准。"},
		"page.entities":         {"Entities", "数据处理者"},
		"page.entity":           {"Entity", "数据处理者详情"},
		"page.plan":             {"Plan", "申报计划"},
		"page.login":            {"Log in", "登录"},
		"page.error":            {"Not found", "未找到"},
		"login.intro":           {"This service requires its API token (http.token_file). It is kept in this browser as a session cookie holding a signature of the token.", "本服务需要其 API 令牌（http.token_file）。浏览器将以会话 Cookie 保存令牌的签名。"},
		"login.token":           {"API token", "API 令牌"},
		"login.submit":          {"Log in", "登录"},
		"login.wrong":           {"Wrong token.", "令牌错误。"},
		"error.not_found":       {"There is no such page or entity:", "没有此页面或数据处理者："},
		"entities.count":        {"entities", "个数据处理者"},
		"entities.filter":       {"Decision", "决定"},
		"entities.all":          {"all", "全部"},
		"entities.apply":        {"Filter", "筛选"},
		"entities.caption":      {"Entities, most urgent first: block before warn before allow, then the worst level, then the nearest deadline.", "数据处理者按紧迫程度排序：先阻断、再警告、后放行，其次按最高级别与最近期限。"},
		"entities.none":         {"No entity matches.", "没有匹配的数据处理者。"},
		"entities.pages":        {"Pages of entities", "数据处理者分页"},
		"entities.page":         {"Page", "第"},
		"entities.prev":         {"Previous", "上一页"},
		"entities.next":         {"Next", "下一页"},
		"console.withheld":      {"Decisions withheld, as the decision endpoint withholds them (HTTP 503)", "决定暂不提供，与决定接口相同（HTTP 503）"},
		"col.entity":            {"Entity", "数据处理者"},
		"col.worst_rule":        {"Worst rule", "最高级别规则"},
		"col.level":             {"Level", "级别"},
		"col.thresholds":        {"Thresholds (share reached)", "阈值（已达比例）"},
		"col.deadline":          {"Nearest deadline", "最近期限"},
		"deadline.days":         {"days", "天"},
		"deadline.none":         {"none", "无"},
		"decision.pending":      {"not evaluated yet", "尚未评估"},
	}
}
