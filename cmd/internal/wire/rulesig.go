package wire

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
)

// Rule sets distributed through the NATS KV bucket (risk.kv_bucket) are
// accepted only when signed by a key the daemon trusts
// (risk.kv_trusted_keys): whoever can write the bucket — on a shared NATS
// cluster that may be more than the operators — cannot replace the risk
// rules, bypassing the admin token and every limit. The value is a JSON
// envelope (SignedRules) that `arb rules sign` makes:
//
//	arb rules keygen --out ops.key          # prints the public key for risk.kv_trusted_keys
//	arb rules sign --key ops.key configs/rules.yaml > rules.signed
//	nats kv put arb_rules rules "$(cat rules.signed)"
//
// The signature covers the format tag, the signing time and the rules'
// bytes. A rule set signed earlier than the newest one accepted is refused
// (a replayed, older and perhaps looser set), and the newest accepted
// signing time is kept in data_dir (KVRulesStateFile) so a restart does not
// forget it.

// SignedRulesFormat tags the envelope's format.
const SignedRulesFormat = "arb-signed-rules/1"

// KVRulesStateFile records, in data_dir, the newest signed rule set taken
// from the KV bucket.
const KVRulesStateFile = "rules-kv.json"

// SignedRules is the KV value of a signed rule set.
type SignedRules struct {
	Format    string    `json:"format"`    // SignedRulesFormat
	Key       string    `json:"key"`       // the signer's public key, base64 (standard, padded)
	SignedAt  time.Time `json:"signed_at"` // RFC 3339, UTC
	Signature string    `json:"signature"` // ed25519 over signedMessage, base64
	Rules     string    `json:"rules"`     // the rules file's text
}

// signedMessage is what the signature covers.
func signedMessage(at time.Time, rules []byte) []byte {
	var b bytes.Buffer
	b.WriteString(SignedRulesFormat)
	b.WriteByte('\n')
	b.WriteString(at.UTC().Format(time.RFC3339Nano))
	b.WriteByte('\n')
	b.Write(rules)
	return b.Bytes()
}

// GenerateRulesKey returns a new signing key: the private key (keep it in a
// 0600 file) and the public key (for risk.kv_trusted_keys), both base64.
func GenerateRulesKey() (public, private string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(pub), base64.StdEncoding.EncodeToString(priv.Seed()), nil
}

// ParseRulesPrivateKey reads a private key written by GenerateRulesKey.
func ParseRulesPrivateKey(text string) (ed25519.PrivateKey, error) {
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("not a rules signing key (base64 of a 32-byte ed25519 seed, as arb rules keygen writes)")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParseRulesPublicKey reads a public key as risk.kv_trusted_keys lists it.
func ParseRulesPublicKey(text string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("not an ed25519 public key (base64 of 32 bytes, as arb rules keygen prints)")
	}
	return ed25519.PublicKey(b), nil
}

// SignRules returns the KV value carrying rules signed with key at time at.
func SignRules(rules []byte, key ed25519.PrivateKey, at time.Time) ([]byte, error) {
	at = at.UTC()
	env := SignedRules{
		Format:    SignedRulesFormat,
		Key:       base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
		SignedAt:  at,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, signedMessage(at, rules))),
		Rules:     string(rules),
	}
	return json.Marshal(env)
}

// Reasons a KV rule set is refused (the metric's reason label).
const (
	kvNotSigned    = "not_signed"
	kvUntrusted    = "untrusted_key"
	kvBadSignature = "bad_signature"
	kvStale        = "stale"
	kvInvalidRules = "invalid_rules"
)

var kvReasons = []string{kvNotSigned, kvUntrusted, kvBadSignature, kvStale, kvInvalidRules}

// kvRefusal is a refused KV value: why (a kvReasons label) and what.
type kvRefusal struct {
	reason string
	err    error
}

func (r *kvRefusal) Error() string { return r.err.Error() }

// VerifyRules checks a KV value against the trusted keys and returns the
// rules' bytes and their signing time.
func VerifyRules(value []byte, trusted []ed25519.PublicKey) ([]byte, time.Time, error) {
	var env SignedRules
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Format != SignedRulesFormat || dec.More() {
		return nil, time.Time{}, &kvRefusal{kvNotSigned, errors.New("the value is not a signed rule set (" + SignedRulesFormat + "; make one with arb rules sign)")}
	}
	pub, err := ParseRulesPublicKey(env.Key)
	if err != nil {
		return nil, time.Time{}, &kvRefusal{kvUntrusted, err}
	}
	ok := false
	for _, t := range trusted {
		if t.Equal(pub) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, time.Time{}, &kvRefusal{kvUntrusted, fmt.Errorf("signed by key %s, which is not in risk.kv_trusted_keys", env.Key)}
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil || !ed25519.Verify(pub, signedMessage(env.SignedAt, []byte(env.Rules)), sig) {
		return nil, time.Time{}, &kvRefusal{kvBadSignature, errors.New("the signature does not match the rules and signing time")}
	}
	return []byte(env.Rules), env.SignedAt.UTC(), nil
}

// kvState is KVRulesStateFile's content.
type kvState struct {
	SignedAt time.Time `json:"signed_at"`
	SHA256   string    `json:"sha256"` // of the rules' bytes
	Revision uint64    `json:"revision"`
}

// kvRules follows the rules key of the KV bucket and loads each value that
// is signed by a trusted key and newer than the last one accepted.
type kvRules struct {
	k         *desk
	bucket    string
	trusted   []ed25519.PublicKey
	statePath string

	mu            sync.Mutex
	last          kvState
	lastRejection string
	lastRejectAt  time.Time

	accepted atomic.Uint64
	refused  map[string]*atomic.Uint64 // by reason; fixed keys
}

func newKVRules(cfg *config.Config, k *desk) (*kvRules, error) {
	r := &kvRules{k: k, bucket: cfg.Risk.KVBucket, statePath: filepath.Join(cfg.DataDir, KVRulesStateFile),
		refused: map[string]*atomic.Uint64{}}
	for _, reason := range kvReasons {
		r.refused[reason] = new(atomic.Uint64)
	}
	for i, s := range cfg.Risk.KVTrustedKeys {
		pub, err := ParseRulesPublicKey(s)
		if err != nil { // validation checked them; this guards a Config built in code
			return nil, fmt.Errorf("risk.kv_trusted_keys[%d]: %w", i, err)
		}
		r.trusted = append(r.trusted, pub)
	}
	b, err := os.ReadFile(r.statePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("KV rules state: %w", err)
	default:
		if err := json.Unmarshal(b, &r.last); err != nil {
			return nil, fmt.Errorf("KV rules state %s: %w", r.statePath, err)
		}
	}
	return r, nil
}

// watch follows the bucket until ctx ends.
func (r *kvRules) watch(ctx context.Context) error {
	err := r.k.d.bus.WatchKV(ctx, r.bucket, "rules", r.onValue)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// onValue handles one value of the rules key.
func (r *kvRules) onValue(value []byte, rev uint64) {
	source := fmt.Sprintf("nats-kv:%s/rules@%d", r.bucket, rev)
	rules, at, err := VerifyRules(value, r.trusted)
	if err != nil {
		r.refuse(source, err)
		return
	}
	sum := sha256.Sum256(rules)
	hash := base64.StdEncoding.EncodeToString(sum[:])
	r.mu.Lock()
	last := r.last
	r.mu.Unlock()
	if at.Before(last.SignedAt) || at.Equal(last.SignedAt) && hash != last.SHA256 {
		r.refuse(source, &kvRefusal{kvStale, fmt.Errorf("signed at %s, not after the rule set in force from the bucket (signed at %s): a replayed or older set",
			at.Format(time.RFC3339), last.SignedAt.Format(time.RFC3339))})
		return
	}
	if _, err := r.k.reload(rules, source); err != nil {
		r.refuse(source, &kvRefusal{kvInvalidRules, err})
		return
	}
	r.accepted.Add(1)
	st := kvState{SignedAt: at, SHA256: hash, Revision: rev}
	r.mu.Lock()
	r.last = st
	r.mu.Unlock()
	r.k.rules.setInForce("nats-kv")
	if b, err := json.Marshal(st); err == nil {
		if err := os.WriteFile(r.statePath, b, 0o600); err != nil {
			r.k.log.Error("KV rules state not saved; after a restart an older signed set could be taken", "err", err)
		}
	}
}

func (r *kvRules) refuse(source string, err error) {
	reason := kvInvalidRules
	var kr *kvRefusal
	if errors.As(err, &kr) {
		reason = kr.reason
	}
	r.refused[reason].Add(1)
	r.mu.Lock()
	r.lastRejection, r.lastRejectAt = err.Error(), time.Now().UTC()
	r.mu.Unlock()
	v, _ := r.k.risk.Version()
	r.k.log.Error("rule set from the NATS KV bucket refused; the running rules stay in force", "source", source,
		"reason", reason, "err", err, "in_force", v.String())
}

// status is the KV part of /api/v1/status.
func (r *kvRules) status() *httpapi.KVRulesStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &httpapi.KVRulesStatus{Bucket: r.bucket, Accepted: r.accepted.Load(), LastRejection: r.lastRejection}
	if !r.last.SignedAt.IsZero() {
		t := r.last.SignedAt
		st.SignedAt = &t
	}
	if !r.lastRejectAt.IsZero() {
		t := r.lastRejectAt
		st.LastRejectionAt = &t
	}
	for _, reason := range kvReasons {
		st.Refused += r.refused[reason].Load()
	}
	return st
}

func (r *kvRules) registerMetrics(reg *prometheus.Registry) {
	reg.MustRegister(httpapi.NewCounterFamily("arb_risk_kv_rules_total",
		"Rule sets read from the NATS KV bucket by result: accepted, or refused with the reason (not_signed, untrusted_key, bad_signature, stale, invalid_rules).",
		[]string{"result"}, func(emit httpapi.Emit) {
			emit(float64(r.accepted.Load()), "accepted")
			for _, reason := range kvReasons {
				emit(float64(r.refused[reason].Load()), reason)
			}
		}))
}
