// Package archtest holds no code: its test enforces the dependency direction
// of design.md with `go list -deps`, so a forbidden import fails the build's
// tests instead of surviving review.
package archtest
