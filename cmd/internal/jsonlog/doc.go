// Package jsonlog is arbd's log handler: slog's JSON lines, with every key
// once per object and the trade id on every line about an order.
//
// # Model
//
// slog.JSONHandler writes what it is given: a logger made With a key and
// then called with the same key writes the key twice ("component" from a
// parent logger and from a child, say), and an attribute named time, level
// or msg collides with the line's own. Many JSON readers keep the last
// duplicate, some the first, some refuse the line. Handler collects the
// attributes of the loggers' With calls and of the call itself, keeps each
// key once per object — the innermost value wins (the call's over its
// logger's, a child logger's over its parent's), groups of one name merge —
// renames an attribute that would collide with time, level or msg (and
// source, when the handler adds the caller's position) to attr_<key>, and
// then writes the line with slog.JSONHandler.
//
// For correlation, a line that carries a client order id of this daemon
// (the key client_order_id) but no trade id gets the trade id it encodes
// (key trade, as the executor's own lines have it): every order's id is
// its trade id with the purpose, side and index appended
// (strategy/execute.ClientID), so a venue client's line about an order is
// found with its trade's.
//
// Logging is not on the hot path (nothing is logged per market event); the
// handler allocates per line.
package jsonlog
