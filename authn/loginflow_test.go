package authn

import (
	"bytes"
	"strings"
	"testing"
)

// The device token waits sealed to the poll key: only the poll secret of
// the same flow opens it, and nothing the store keeps holds the code or
// the secret.
func TestLoginFlowSeal(t *testing.T) {
	a, err := newFlowSecrets()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newFlowSecrets()
	key, secret, err := pollSecret(a.pollToken)
	if err != nil || key != a.key || !pollMatches(a.verifier, secret) {
		t.Fatalf("poll token does not lead back to its flow: %v", err)
	}
	if k, ok := flowKeyFromCode(a.code); !ok || k != a.key {
		t.Errorf("the URL code does not lead to the flow's key")
	}
	if strings.Contains(a.pollToken, a.code) {
		t.Errorf("the poll token holds the URL code")
	}
	_, otherSecret, _ := pollSecret(b.pollToken)
	if pollMatches(a.verifier, otherSecret) {
		t.Errorf("another flow's poll secret matches")
	}
	sealed, err := sealToPollKey(a.pollKey, a.key, "the device token")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := openWithPollSecret(secret, a.key, sealed); err != nil || got != "the device token" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := openWithPollSecret(otherSecret, a.key, sealed); err == nil {
		t.Errorf("another poll secret opens the token")
	}
	if _, err := openWithPollSecret(secret, b.key, sealed); err == nil {
		t.Errorf("the token opens under another flow's key")
	}
	for _, stored := range [][]byte{a.verifier, a.pollKey, sealed, []byte(a.key)} {
		if bytes.Contains(stored, secret) || bytes.Contains(stored, []byte(a.code)) || bytes.Contains(stored, []byte("the device token")) {
			t.Errorf("a stored field holds a secret")
		}
	}
	for _, bad := range []string{"", "x", a.code, a.pollToken + "A"} {
		if _, _, err := pollSecret(bad); err == nil {
			t.Errorf("pollSecret(%q) accepted", bad)
		}
	}
}
