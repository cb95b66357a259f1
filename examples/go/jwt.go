package main

// A JWT signed by caas and verified here with the standard library alone, against the public
// keys caas publishes at /.well-known/jwks.json: the JWK is parsed and the signature checked by
// hand, ES256 (crypto/ecdsa) or EdDSA (crypto/ed25519).

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// jwk is one entry of a JSON Web Key Set: the public members of an EC P-256 or Ed25519 key.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
}

type tokenClaims struct {
	Sub string `json:"sub"`
	Aud any    `json:"aud"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

// Canonical unpadded base64url: a JWS whose parts have stray low bits is refused, not repaired.
var base64url = base64.RawURLEncoding.Strict()

var errBadSignature = errors.New("the signature does not verify")

// jwks fetches caas's JSON Web Key Set, which needs no API key.
func (c *caas) jwks() ([]jwk, error) {
	response, err := c.http.Get(c.base + "/.well-known/jwks.json")
	if err != nil {
		return nil, fmt.Errorf("GET /.well-known/jwks.json: %w", err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /.well-known/jwks.json: caas answered %d", response.StatusCode)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(response.Body).Decode(&set); err != nil {
		return nil, err
	}
	return set.Keys, nil
}

// verifySignature checks a JWS signature over input with key, by the key's own algorithm.
func verifySignature(key jwk, input, signature []byte) error {
	x, err := base64url.DecodeString(key.X)
	if err != nil {
		return err
	}
	switch {
	case key.Alg == "ES256" && key.Kty == "EC" && key.Crv == "P-256":
		y, err := base64url.DecodeString(key.Y)
		if err != nil {
			return err
		}
		public := ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if !public.Curve.IsOnCurve(public.X, public.Y) {
			return fmt.Errorf("kid %s: not a point of P-256", key.Kid)
		}
		// JWS writes an ECDSA signature as r‖s, 32 bytes each (RFC 7518 §3.4), not ASN.1.
		if len(signature) != 64 {
			return errBadSignature
		}
		digest := sha256.Sum256(input)
		if !ecdsa.Verify(&public, digest[:], new(big.Int).SetBytes(signature[:32]), new(big.Int).SetBytes(signature[32:])) {
			return errBadSignature
		}
		return nil
	case key.Alg == "EdDSA" && key.Kty == "OKP" && key.Crv == "Ed25519":
		if len(x) != ed25519.PublicKeySize {
			return fmt.Errorf("kid %s: not an Ed25519 public key", key.Kid)
		}
		if !ed25519.Verify(ed25519.PublicKey(x), input, signature) {
			return errBadSignature
		}
		return nil
	default:
		return fmt.Errorf("kid %s: this example verifies ES256 and EdDSA keys, not %s", key.Kid, key.Alg)
	}
}

// verifyJWT returns the claims of token once its signature verifies under the published key its
// kid names, by that key's algorithm: the header's alg must agree, so "none" or HS256 never
// verify. It then checks exp and the audience.
func verifyJWT(token string, keys []jwk, audience string, now time.Time) (tokenClaims, string, error) {
	var claims tokenClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims, "", errors.New("not a compact JWS")
	}
	headerJSON, err := base64url.DecodeString(parts[0])
	if err != nil {
		return claims, "", err
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(headerJSON, &header); err != nil {
		return claims, "", err
	}
	var key *jwk
	for i := range keys {
		if keys[i].Kid == header.Kid {
			key = &keys[i]
		}
	}
	if key == nil {
		return claims, "", fmt.Errorf("kid %q is not in the JWKS", header.Kid)
	}
	if header.Alg != key.Alg {
		return claims, "", fmt.Errorf("alg %q is not kid %s's %s", header.Alg, key.Kid, key.Alg)
	}
	signature, err := base64url.DecodeString(parts[2])
	if err != nil {
		return claims, "", err
	}
	if err := verifySignature(*key, []byte(parts[0]+"."+parts[1]), signature); err != nil {
		return claims, "", err
	}
	payload, err := base64url.DecodeString(parts[1])
	if err != nil {
		return claims, "", err
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return claims, "", err
	}
	if now.Unix() >= claims.Exp {
		return claims, "", errors.New("the token has expired")
	}
	if claims.Aud != audience {
		return claims, "", errors.New("the token is for another audience")
	}
	return claims, key.Alg, nil
}

func jwtSigning(c *caas, name string) error {
	var signed struct {
		Token   string `json:"token"`
		Kid     string `json:"kid"`
		Version int    `json:"version"`
	}
	body := map[string]any{"claims": map[string]any{"sub": "user-42", "aud": "caas-example"}, "expires_in": 300}
	if err := c.post("/keyring/"+url.PathEscape(name)+"/jwt", body, &signed); err != nil {
		return err
	}
	keys, err := c.jwks()
	if err != nil {
		return err
	}
	claims, alg, err := verifyJWT(signed.Token, keys, "caas-example", time.Now())
	if err != nil {
		return fmt.Errorf("jwt: %w", err)
	}
	if err := check("jwt: the claims are the ones sent", claims.Sub == "user-42" && claims.Exp-claims.Iat == 300); err != nil {
		return err
	}
	// One character of the signature changed (not the last, whose low bits base64url may ignore).
	at := len(signed.Token) - 10
	replacement := "A"
	if signed.Token[at] == 'A' {
		replacement = "B"
	}
	tampered := signed.Token[:at] + replacement + signed.Token[at+1:]
	if _, _, err := verifyJWT(tampered, keys, "caas-example", time.Now()); !errors.Is(err, errBadSignature) {
		return fmt.Errorf("jwt: a tampered token was not refused for its signature (%v)", err)
	}
	fmt.Printf("jwt: signed by caas as %s (%s), verified by the standard library against the JWKS: sub %s, expires in %d s; a tampered token was refused\n",
		signed.Kid, alg, claims.Sub, claims.Exp-claims.Iat)
	return nil
}
