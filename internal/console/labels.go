package console

import "strings"

// lang is a language of the console.
type lang string

const (
	langEN lang = "en"
	langZH lang = "zh"
)

// parseLang returns the language named s ("en", "zh", "zh-CN", ...).
func parseLang(s string) (lang, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "en" || strings.HasPrefix(s, "en-"):
		return langEN, true
	case s == "zh" || strings.HasPrefix(s, "zh-"):
		return langZH, true
	}
	return langEN, false
}

// HTMLLang is the value of <html lang>.
func (l lang) HTMLLang() string {
	if l == langZH {
		return "zh-Hans"
	}
	return "en"
}

// catalog gives the console's labels. The console's own keys (navigation,
// filters, login) are here; the others come from the shared catalogue.
type catalog struct {
	own map[string][2]string // key → English, Chinese
}

func newCatalog() *catalog { return &catalog{own: consoleMessages()} }

// T returns the text of key in l; an unknown key comes back as "⟦key⟧",
// which the tests look for.
func (c *catalog) T(l lang, key string) string {
	if m, ok := c.own[key]; ok {
		if l == langZH {
			return m[1]
		}
		return m[0]
	}
	return "⟦" + key + "⟧"
}

// consoleMessages are the labels only the console uses.
func consoleMessages() map[string][2]string {
	return map[string][2]string{
		"console.name":         {"transferwatch console", "transferwatch 控制台"},
		"console.skip":         {"Skip to content", "跳到正文"},
		"console.language":     {"Language", "语言"},
		"console.logout":       {"Log out", "退出"},
		"page.entities":        {"Entities", "数据处理者"},
		"page.entity":          {"Entity", "数据处理者详情"},
		"page.plan":            {"Plan", "申报计划"},
		"page.login":           {"Log in", "登录"},
		"page.error":           {"Not found", "未找到"},
		"login.intro":          {"This service requires its API token (http.token_file). It is kept in this browser as a session cookie holding a signature of the token.", "本服务需要其 API 令牌（http.token_file）。浏览器将以会话 Cookie 保存令牌的签名。"},
		"login.token":          {"API token", "API 令牌"},
		"login.submit":         {"Log in", "登录"},
		"login.wrong":          {"Wrong token.", "令牌错误。"},
		"error.not_found":      {"There is no such page or entity:", "没有此页面或数据处理者："},
		"entities.count":       {"entities", "个数据处理者"},
		"entities.filter":      {"Decision", "决定"},
		"entities.all":         {"all", "全部"},
		"entities.apply":       {"Filter", "筛选"},
		"entities.caption":     {"Entities, most urgent first: block before warn before allow, then the worst level, then the nearest deadline.", "数据处理者按紧迫程度排序：先阻断、再警告、后放行，其次按最高级别与最近期限。"},
		"entities.none":        {"No entity matches.", "没有匹配的数据处理者。"},
		"col.entity":           {"Entity", "数据处理者"},
		"col.decision":         {"Decision", "决定"},
		"col.worst_rule":       {"Worst rule", "最高级别规则"},
		"col.level":            {"Level", "级别"},
		"col.thresholds":       {"Thresholds (share reached)", "阈值（已达比例）"},
		"col.deadline":         {"Nearest deadline", "最近期限"},
		"deadline.forecast":    {"forecast crossing", "预测越线"},
		"deadline.valid_until": {"approval expires", "批准到期"},
		"deadline.reapply_by":  {"re-apply by", "重新申报截止"},
		"deadline.start_by":    {"start application by", "最迟启动申报"},
		"deadline.days":        {"days", "天"},
		"deadline.none":        {"none", "无"},
		"decision.allow":       {"allow", "放行"},
		"decision.warn":        {"warn", "警告"},
		"decision.block":       {"block", "阻断"},
		"decision.pending":     {"not evaluated yet", "尚未评估"},
		"level.ok":             {"ok", "正常"},
		"level.notice":         {"notice", "提示"},
		"level.warning":        {"warning", "警告"},
		"level.critical":       {"critical", "严重"},
		"level.breached":       {"breached", "已超限"},
	}
}
