package feedbus

import (
	"fmt"
	"strings"
)

// SubjectPrefix starts every book subject: arb.book.<venue>.<symbol>, the
// venue as named in the config and the canonical symbol (BTC-USDT).
const SubjectPrefix = "arb.book."

// Subject returns the subject of the books of one venue and canonical
// symbol, or an error if either is not a valid NATS subject token.
func Subject(venue, symbol string) (string, error) {
	if err := checkToken("venue", venue); err != nil {
		return "", err
	}
	if err := checkToken("symbol", symbol); err != nil {
		return "", err
	}
	return SubjectPrefix + venue + "." + symbol, nil
}

// VenueSubjects returns the wildcard subject of every book of a venue.
func VenueSubjects(venue string) (string, error) {
	if err := checkToken("venue", venue); err != nil {
		return "", err
	}
	return SubjectPrefix + venue + ".*", nil
}

// checkToken refuses what cannot be one token of a subject: empty, or
// holding a separator, a wildcard or white space.
func checkToken(what, s string) error {
	if s == "" || strings.ContainsAny(s, ".*> \t\r\n") {
		return fmt.Errorf("feedbus: %s %q cannot be a NATS subject token (no dots, wildcards or spaces)", what, s)
	}
	return nil
}

// symbolOf returns the last token of subject if subject is
// <prefix><venue>.<symbol> for the given venue, without allocating.
func symbolOf(subject, venue string) (string, bool) {
	n := len(SubjectPrefix) + len(venue) + 1
	if len(subject) <= n || subject[:len(SubjectPrefix)] != SubjectPrefix ||
		subject[len(SubjectPrefix):n-1] != venue || subject[n-1] != '.' {
		return "", false
	}
	return subject[n:], true
}
