// Command example is a main server's calls to caas, with Go's standard library only.
//
// One round trip per endpoint family: the oracle (opened locally with crypto/cipher's AES-GCM
// and by caas), pseudonyms, the keyring, a data key and a JWT, signed by caas under
// CAAS_SIGNING_KEY (a key made with --type ecdsa-p256 or ed25519 and --publish; default dev-jwt,
// development mode's) and verified here against caas's JWKS (jwt.go). It prints what it did, never a key, plaintext, ciphertext or token, and
// exits 1 with the reason on the first failure.
//
//	CAAS_URL=https://localhost:8443 CAAS_API_KEY=... CAAS_CACERT=ca.pem [CAAS_KEYRING_KEY=dev] \
//	  [CAAS_SIGNING_KEY=dev-jwt] go run .
package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

type caas struct {
	base   string
	apiKey string
	http   *http.Client
}

func required(name string) (string, error) {
	value := os.Getenv(name)
	if value == "" {
		return "", fmt.Errorf("%s is not set", name)
	}
	return value, nil
}

func newCaas() (*caas, error) {
	base, err := required("CAAS_URL")
	if err != nil {
		return nil, err
	}
	apiKey, err := required("CAAS_API_KEY")
	if err != nil {
		return nil, err
	}
	caFile, err := required("CAAS_CACERT")
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	// Trust exactly the CA that signed caas's certificate; the host name is checked as usual.
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CAAS_CACERT holds no PEM certificate")
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	return &caas{
		base:   strings.TrimRight(base, "/"),
		apiKey: apiKey,
		http:   &http.Client{Transport: transport, Timeout: 10 * time.Second},
	}, nil
}

// post sends body as JSON with the API key in a header and decodes a 200 answer into answer.
// Any other status is an error naming the path, the status and caas's error code, which never
// repeats the request.
func (c *caas) post(path string, body any, answer any) error {
	encoded, err := json.Marshal(body)
	if err != nil {
		return err
	}
	request, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(encoded))
	if err != nil {
		return err
	}
	request.Header.Set("Content-Type", "application/json")
	request.Header.Set("Authorization", "Bearer "+c.apiKey)
	response, err := c.http.Do(request)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		var refusal struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.NewDecoder(response.Body).Decode(&refusal)
		return fmt.Errorf("POST %s: caas answered %d %s", path, response.StatusCode, refusal.Error.Code)
	}
	return json.NewDecoder(response.Body).Decode(answer)
}

func check(what string, holds bool) error {
	if !holds {
		return fmt.Errorf("%s: did not hold", what)
	}
	return nil
}

type sealedText struct {
	Data  string `json:"data"`
	Key   string `json:"key"`
	Mac   string `json:"mac"`
	Nonce string `json:"nonce"`
}

type openedText struct {
	Data string `json:"data"`
}

// openLocally does what the Flask original's clients do: AES-GCM with the tag after the ciphertext.
func openLocally(sealed sealedText) (string, error) {
	var parts [4][]byte
	for i, field := range []string{sealed.Key, sealed.Nonce, sealed.Data, sealed.Mac} {
		decoded, err := base64.StdEncoding.DecodeString(field)
		if err != nil {
			return "", err
		}
		parts[i] = decoded
	}
	block, err := aes.NewCipher(parts[0])
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(parts[1]))
	if err != nil {
		return "", err
	}
	opened, err := gcm.Open(nil, parts[1], append(parts[2], parts[3]...), nil)
	if err != nil {
		return "", errors.New("oracle: the sealed text did not authenticate")
	}
	return string(opened), nil
}

func oracle(c *caas) error {
	secret := "attack at dawn"
	var sealed sealedText
	if err := c.post("/oracleinvocation/", map[string]string{"data": secret}, &sealed); err != nil {
		return err
	}
	opened, err := openLocally(sealed)
	if err != nil {
		return err
	}
	if err := check("oracle: opened locally", opened == secret); err != nil {
		return err
	}
	var reopened openedText
	if err := c.post("/oracleinvocation/decrypt", sealed, &reopened); err != nil {
		return err
	}
	if err := check("oracle: opened by caas", reopened.Data == secret); err != nil {
		return err
	}
	keyBytes, _ := base64.StdEncoding.DecodeString(sealed.Key)
	fmt.Printf("oracle: sealed %d characters under a %d-byte key, opened locally and by caas\n", len(secret), len(keyBytes))
	return nil
}

type pseudonymRequest struct {
	UserUUID      string `json:"userUUID"`
	SensitiveData string `json:"sensitiveData"`
	EncryptedData string `json:"encrypted_data,omitempty"`
}

func pseudonyms(c *caas) error {
	user := pseudonymRequest{UserUUID: "4dbcbcfe-4800-40a8-badf-c26b73af230c", SensitiveData: "user@example.com"}
	var made struct {
		EncryptedData string `json:"encrypted_data"`
		// Absent under a django-compat key, whose answer is the Django original's.
		Version *int `json:"version"`
	}
	if err := c.post("/encrypt", user, &made); err != nil {
		return err
	}
	version := "django-compat key"
	if made.Version != nil {
		version = fmt.Sprintf("secret version %d", *made.Version)
	}
	var verified, other struct {
		Match bool `json:"match"`
	}
	same := user
	same.EncryptedData = made.EncryptedData
	if err := c.post("/verify", same, &verified); err != nil {
		return err
	}
	if err := check("pseudonym: verifies", verified.Match); err != nil {
		return err
	}
	different := same
	different.SensitiveData = "other"
	if err := c.post("/verify", different, &other); err != nil {
		return err
	}
	if err := check("pseudonym: other data does not verify", !other.Match); err != nil {
		return err
	}
	fmt.Printf("pseudonym: %d hex digits (%s); verify matched it, and not other data\n", len(made.EncryptedData), version)
	return nil
}

type keyringSealed struct {
	Ciphertext string `json:"ciphertext"`
	Version    int    `json:"version"`
}

func keyring(c *caas, name string) error {
	base := "/keyring/" + url.PathEscape(name)
	secret := "card 4111 1111 1111 1111"
	var sealed keyringSealed
	if err := c.post(base+"/encrypt", map[string]string{"data": secret, "aad": "customer-7"}, &sealed); err != nil {
		return err
	}
	var opened openedText
	if err := c.post(base+"/decrypt", map[string]string{"ciphertext": sealed.Ciphertext, "aad": "customer-7"}, &opened); err != nil {
		return err
	}
	if err := check("keyring: decrypts", opened.Data == secret); err != nil {
		return err
	}
	fmt.Printf("keyring %s: encrypted under version %d (%d characters), decrypted\n", name, sealed.Version, len(sealed.Ciphertext))

	var datakey struct {
		WrappedKey string `json:"wrapped_key"`
		Key        string `json:"key"`
	}
	if err := c.post(base+"/datakey", map[string]any{}, &datakey); err != nil {
		return err
	}
	var unwrapped openedText
	if err := c.post(base+"/decrypt", map[string]string{"ciphertext": datakey.WrappedKey, "encoding": "base64"}, &unwrapped); err != nil {
		return err
	}
	if err := check("datakey: unwraps to the key", unwrapped.Data == datakey.Key); err != nil {
		return err
	}
	keyBytes, err := base64.StdEncoding.DecodeString(datakey.Key)
	if err != nil {
		return err
	}
	fmt.Printf("datakey: a %d-byte key, its wrapped form decrypted by caas to the same key\n", len(keyBytes))
	return nil
}

func run() error {
	c, err := newCaas()
	if err != nil {
		return err
	}
	keyName := os.Getenv("CAAS_KEYRING_KEY")
	if keyName == "" {
		keyName = "dev"
	}
	signingKey := os.Getenv("CAAS_SIGNING_KEY")
	if signingKey == "" {
		signingKey = "dev-jwt"
	}
	for _, step := range []func() error{
		func() error { return oracle(c) },
		func() error { return pseudonyms(c) },
		func() error { return keyring(c, keyName) },
		func() error { return jwtSigning(c, signingKey) },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	fmt.Println("all round trips passed")
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "caas example failed: %v\n", err)
		os.Exit(1)
	}
}
