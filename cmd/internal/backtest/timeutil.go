package backtest

import "time"

type timeT = time.Time

func unixTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }
