module arb

go 1.26
