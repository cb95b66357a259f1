// A hand-written Go oracle, the stack HashiCorp Vault is built on (net/http, crypto/tls,
// crypto/aes + crypto/cipher) without its routing, authentication or audit: parse the JSON
// body, seal its "data" under a fresh AES-256-GCM key, answer the four base64 fields.
// `go run . -cert C -key K` prints "listening <port>" once bound. Standard library only.
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
)

type request struct {
	Data string `json:"data"`
}

type answer struct {
	Data  string `json:"data"`
	Key   string `json:"key"`
	Mac   string `json:"mac"`
	Nonce string `json:"nonce"`
}

func seal(w http.ResponseWriter, r *http.Request) {
	var body request
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":"invalid_body"}`, http.StatusBadRequest)
		return
	}
	material := make([]byte, 44)
	if _, err := rand.Read(material); err != nil {
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	key, nonce := material[:32], material[32:]
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	sealed := gcm.Seal(nil, nonce, []byte(body.Data), nil)
	tagStart := len(sealed) - gcm.Overhead()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer{
		Data:  base64.StdEncoding.EncodeToString(sealed[:tagStart]),
		Key:   base64.StdEncoding.EncodeToString(key),
		Mac:   base64.StdEncoding.EncodeToString(sealed[tagStart:]),
		Nonce: base64.StdEncoding.EncodeToString(nonce),
	})
}

func main() {
	certFile := flag.String("cert", "", "PEM certificate")
	keyFile := flag.String("key", "", "PEM private key")
	flag.Parse()
	certificate, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-oracle:", err)
		os.Exit(1)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-oracle:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port)
	server := &http.Server{
		Handler:   http.HandlerFunc(seal),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{certificate}, MinVersion: tls.VersionTLS13},
	}
	if err := server.ServeTLS(listener, "", ""); err != nil {
		fmt.Fprintln(os.Stderr, "go-oracle:", err)
		os.Exit(1)
	}
}
