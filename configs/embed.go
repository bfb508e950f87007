// Package configs holds the shipped configuration files (never secrets) and
// embeds the default risk rules, so a daemon started outside the repository
// still runs with the default limits rather than with none.
package configs

import _ "embed"

// DefaultRules is configs/rules.yaml as shipped.
//
//go:embed rules.yaml
var DefaultRules []byte

// DefaultRulesName names DefaultRules in errors and in the rule-set version.
const DefaultRulesName = "embedded:configs/rules.yaml"
