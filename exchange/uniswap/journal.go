package uniswap

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"arb/exchange"
)

// TxRecord is one journaled transaction: written, durably, before the
// transaction is broadcast, so that the client order id always maps to
// the transaction that may be on chain — after a crash too — and an
// unknown outcome is resolved by looking that transaction up, never by
// sending again.
type TxRecord struct {
	Kind     string `json:"kind"` // "swap", "cancel" (a replacement at the swap's nonce), "dead" (the node refused the swap: never in its pool)
	ClientID string `json:"cid"`
	Side     string `json:"side,omitempty"` // "buy" or "sell" (swap)
	Px       int64  `json:"px,omitempty"`   // limit, Px units (swap)
	Qty      int64  `json:"qty,omitempty"`  // Qty units (swap)
	Nonce    uint64 `json:"nonce"`
	Hash     string `json:"hash,omitempty"` // 0x-hex transaction hash
	Raw      string `json:"raw,omitempty"`  // 0x-hex signed transaction (rebroadcast)
	Deadline uint64 `json:"deadline,omitempty"`
	SentAt   int64  `json:"sent_at"` // Unix ns
}

// ErrJournal is wrapped by journal decoding errors.
var ErrJournal = errors.New("uniswap: bad journal record")

// DecodeTxRecord parses and checks one journal line (strict JSON, known
// fields only).
func DecodeTxRecord(line []byte) (TxRecord, error) {
	var r TxRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return TxRecord{}, fmt.Errorf("%w: %v", ErrJournal, err)
	}
	if dec.More() {
		return TxRecord{}, fmt.Errorf("%w: trailing data", ErrJournal)
	}
	id, ok := exchange.MakeID(r.ClientID)
	if !ok || !exchange.ValidClientID(id) {
		return TxRecord{}, fmt.Errorf("%w: client id %q", ErrJournal, r.ClientID)
	}
	switch r.Kind {
	case "swap":
		if r.Side != "buy" && r.Side != "sell" || r.Px <= 0 || r.Qty <= 0 {
			return TxRecord{}, fmt.Errorf("%w: swap %s: side, px and qty", ErrJournal, r.ClientID)
		}
		fallthrough
	case "cancel":
		h, err := hexutil.Decode(r.Hash)
		if err != nil || len(h) != common.HashLength {
			return TxRecord{}, fmt.Errorf("%w: %s: hash", ErrJournal, r.ClientID)
		}
		if _, err := hexutil.Decode(r.Raw); err != nil {
			return TxRecord{}, fmt.Errorf("%w: %s: raw transaction", ErrJournal, r.ClientID)
		}
	case "dead":
	default:
		return TxRecord{}, fmt.Errorf("%w: kind %q", ErrJournal, r.Kind)
	}
	return r, nil
}

// TxJournal stores TxRecords durably. Append returns once the record is
// durable. Safe for concurrent use.
type TxJournal interface {
	Append(r TxRecord) error
	Load() ([]TxRecord, error)
}

// MemTxJournal is a TxJournal in memory (tests, the simulated chain).
type MemTxJournal struct {
	mu   sync.Mutex
	recs []TxRecord
	// Fail, if set, makes Append fail.
	Fail error
}

// Append implements TxJournal.
func (j *MemTxJournal) Append(r TxRecord) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.Fail != nil {
		return j.Fail
	}
	j.recs = append(j.recs, r)
	return nil
}

// Load implements TxJournal.
func (j *MemTxJournal) Load() ([]TxRecord, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]TxRecord(nil), j.recs...), nil
}

// FileTxJournal is an append-only file of JSON lines, fsynced per record.
type FileTxJournal struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// OpenFileTxJournal opens (creating) the journal at path.
func OpenFileTxJournal(path string) (*FileTxJournal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &FileTxJournal{path: path, f: f}, nil
}

// Append implements TxJournal: one line, then fsync.
func (j *FileTxJournal) Append(r TxRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return j.f.Sync()
}

// Load implements TxJournal. A last line without its newline is a write
// that a crash cut short: its transaction was never broadcast (broadcast
// follows a completed Append), so it is dropped. Any other bad line stops
// the load: a journal is not guessed at.
func (j *FileTxJournal) Load() ([]TxRecord, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	data, err := os.ReadFile(j.path)
	if err != nil {
		return nil, err
	}
	return decodeJournal(data)
}

func decodeJournal(data []byte) ([]TxRecord, error) {
	var out []TxRecord
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		r, err := DecodeTxRecord(b)
		if err != nil {
			if !bytes.HasSuffix(data, []byte("\n")) && isLastLine(data, b) {
				break // a torn final write
			}
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJournal, err)
	}
	return out, nil
}

func isLastLine(data, b []byte) bool {
	i := bytes.LastIndexByte(data, '\n')
	return bytes.Equal(data[i+1:], b)
}

// Close closes the file.
func (j *FileTxJournal) Close() error { return j.f.Close() }
