package binance

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSignREST: both documented HMAC vectors (rest-api.md), built from the
// documented parameters in order: the query string, including the
// percent-encoding of a non-ASCII symbol, and the signature.
func TestSignREST(t *testing.T) {
	var doc struct {
		Vectors []struct {
			Name   string
			Inputs struct {
				SecretKey        string     `json:"secretKey"`
				ParamsInOrder    [][]string `json:"params_in_order"`
				SignaturePayload string     `json:"signature_payload"`
			}
			Expected string
		}
	}
	if err := json.Unmarshal(readDoc(t, "auth_hmac_rest_vectors.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Vectors) != 2 {
		t.Fatalf("%d vectors", len(doc.Vectors))
	}
	for _, v := range doc.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			var ps []Param
			for _, p := range v.Inputs.ParamsInOrder {
				ps = append(ps, Param{p[0], p[1]})
			}
			q := Query(ps)
			if q != v.Inputs.SignaturePayload {
				t.Fatalf("query\n got %s\nwant %s", q, v.Inputs.SignaturePayload)
			}
			secret := []byte(v.Inputs.SecretKey)
			if got := SignREST(secret, q, ""); got != v.Expected {
				t.Fatalf("signature %s, want %s", got, v.Expected)
			}
			// Query string and body are concatenated without separator:
			// any split of the payload signs the same.
			cut := strings.Index(q, "&quantity")
			if got := SignREST(secret, q[:cut], q[cut:]); got != v.Expected {
				t.Fatalf("split signature %s", got)
			}
		})
	}
}

// TestSignWSAPI: both documented WebSocket API vectors; the payload is
// rebuilt from shuffled parameters (sorted, no percent-encoding).
func TestSignWSAPI(t *testing.T) {
	var doc struct {
		Vectors []struct {
			Name   string
			Inputs struct {
				SecretKey        string `json:"secretKey"`
				SignaturePayload string `json:"signature_payload"`
			}
			Expected string
		}
	}
	if err := json.Unmarshal(readDoc(t, "auth_hmac_wsapi_vectors.json"), &doc); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, v := range doc.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			var ps []Param
			for _, kv := range strings.Split(v.Inputs.SignaturePayload, "&") {
				k, val, _ := strings.Cut(kv, "=")
				ps = append(ps, Param{k, val})
			}
			ps = append(ps, Param{"signature", "must-be-excluded"})
			rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
			if got := WSAPIPayload(ps); got != v.Inputs.SignaturePayload {
				t.Fatalf("payload\n got %s\nwant %s", got, v.Inputs.SignaturePayload)
			}
			if got := SignWSAPI([]byte(v.Inputs.SecretKey), ps); got != v.Expected {
				t.Fatalf("signature %s, want %s", got, v.Expected)
			}
		})
	}
}

// TestSignFIXLogon: the documented Ed25519 Logon vector (fix-api.md), from
// the PKCS #8 PEM key.
func TestSignFIXLogon(t *testing.T) {
	var doc struct {
		Inputs struct {
			PEM          string `json:"private_key_pem"`
			MsgType      string
			SenderCompID string
			TargetCompID string
			MsgSeqNum    string
			SendingTime  string
		}
		Expected string
	}
	if err := json.Unmarshal(readDoc(t, "auth_ed25519_fix_logon_vector.json"), &doc); err != nil {
		t.Fatal(err)
	}
	key, err := ParseEd25519Key([]byte(doc.Inputs.PEM))
	if err != nil {
		t.Fatal(err)
	}
	in := doc.Inputs
	payload := FIXLogonPayload(in.MsgType, in.SenderCompID, in.TargetCompID, in.MsgSeqNum, in.SendingTime)
	if string(payload) != "A\x01EXAMPLE\x01SPOT\x011\x0120240627-11:17:25.223" {
		t.Fatalf("payload %q", payload)
	}
	if got := SignFIXLogon(key, payload); got != doc.Expected {
		t.Fatalf("signature %s, want %s", got, doc.Expected)
	}
	if _, err := ParseEd25519Key([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Fatal("accepted a bad key")
	}
}

// TestQueryEscapes: reserved and non-ASCII bytes are percent-encoded in
// upper case; unreserved characters stay.
func TestQueryEscapes(t *testing.T) {
	got := Query([]Param{{"newClientOrderId", "a-b_c.d~e/f:g h"}, {"symbol", "é"}})
	if want := "newClientOrderId=a-b_c.d~e%2Ff%3Ag%20h&symbol=%C3%A9"; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
}
