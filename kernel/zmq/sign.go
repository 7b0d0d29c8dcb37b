package zmq

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// Signer signs and verifies messages with a connection file's key and
// signature_scheme. A Signer with an empty key signs with "" and accepts
// every signature (Jupyter's "no authentication"). Its methods are safe
// for concurrent use.
type Signer struct {
	newHash func() hash.Hash
	key     []byte
}

// NewSigner returns the signer for scheme ("hmac-sha256", "hmac-sha1",
// "hmac-sha224", "hmac-sha384", "hmac-sha512") and key.
func NewSigner(scheme, key string) (*Signer, error) {
	alg, ok := strings.CutPrefix(scheme, "hmac-")
	if !ok {
		return nil, fmt.Errorf("signature_scheme %q is not supported (want hmac-sha256)", scheme)
	}
	var h func() hash.Hash
	switch alg {
	case "sha256":
		h = sha256.New
	case "sha1":
		h = sha1.New
	case "sha224":
		h = sha256.New224
	case "sha384":
		h = sha512.New384
	case "sha512":
		h = sha512.New
	default:
		return nil, fmt.Errorf("signature_scheme %q is not supported (hmac-sha256, -sha1, -sha224, -sha384, -sha512)", scheme)
	}
	return &Signer{newHash: h, key: []byte(key)}, nil
}

// Enabled reports whether messages are signed (the key is not empty).
func (s *Signer) Enabled() bool { return len(s.key) > 0 }

// Sign returns the hex signature of the parts (header, parent_header,
// metadata, content), or nil when signing is disabled.
func (s *Signer) Sign(parts ...[]byte) []byte {
	if !s.Enabled() {
		return nil
	}
	mac := hmac.New(s.newHash, s.key)
	for _, p := range parts {
		mac.Write(p)
	}
	sum := mac.Sum(nil)
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}

// Verify reports whether sig is the signature of parts, comparing in
// constant time. It accepts anything when signing is disabled.
func (s *Signer) Verify(sig []byte, parts ...[]byte) bool {
	if !s.Enabled() {
		return true
	}
	return hmac.Equal(s.Sign(parts...), sig)
}
