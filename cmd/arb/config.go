package main

import (
	"errors"
	"fmt"
	"io"

	"arb/cmd/internal/config"
	"arb/cmd/internal/wire"
)

// configCmd runs `arb config check FILE`: the daemon's own validation,
// offline — the schema, and what would otherwise fail only at start-up
// (scales the detector cannot hold, the simulator's limits, a rules file
// that is missing or does not load). Every problem is printed, one line
// each with file:line and key; the exit code is 1 when there is one.
func configCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprint(stderr, "usage: arb config check FILE\n")
		return 2
	}
	file := args[1]
	cfg, err := config.Load(file, wire.Known())
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, ce.Error())
			n := len(ce.Problems) + ce.Omitted
			fmt.Fprintf(stderr, "%s: %d problem(s)\n", file, n)
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK (%d venues, %d instruments, rules %s)\n", file, len(cfg.Venues), len(cfg.Instruments), cfg.Risk.RulesFile)
	return 0
}
