package laravel

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const testKey = "base64:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // "0123456789abcdef" twice

// sealCBC seals plain as Laravel's Encrypter::encrypt does with AES-256-CBC (the interop suite
// checks the same against real Laravel).
func sealCBC(t *testing.T, key []byte, plain string) string {
	t.Helper()
	iv := []byte("fedcba9876543210")
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := []byte(plain + strings.Repeat(string(rune(pad)), pad))
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	iv64, value := base64.StdEncoding.EncodeToString(iv), base64.StdEncoding.EncodeToString(buf)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(iv64 + value))
	j, _ := json.Marshal(map[string]string{"iv": iv64, "value": value, "mac": hex.EncodeToString(mac.Sum(nil)), "tag": ""})
	return base64.StdEncoding.EncodeToString(j)
}

func TestDecryptCommand(t *testing.T) {
	k, err := ParseKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	command := `O:3:"Job":0:{}`
	sealed := sealCBC(t, k.b, fmt.Sprintf("s:%d:\"%s\";", len(command), command))
	got, err := k.DecryptCommand(sealed)
	if err != nil || got != command {
		t.Fatalf("DecryptCommand = %q, %v; want %q", got, err, command)
	}
	other, _ := ParseKey("base64:" + base64.StdEncoding.EncodeToString([]byte("ffffffffffffffffffffffffffffffff")))
	if _, err := other.DecryptCommand(sealed); !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), "MAC is invalid") {
		t.Errorf("with another key: %v, want the MAC refused", err)
	}
}

// TestKeyStaysSecret: neither a key's formatting nor ParseKey's errors show key material.
func TestKeyStaysSecret(t *testing.T) {
	k, _ := ParseKey(testKey)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(s, "0123456789") || strings.Contains(s, "MDEy") {
			t.Errorf("formatted key shows its bytes: %s", s)
		}
	}
	for _, bad := range []string{"base64:!!!secret!!!", "a-secret-too-short"} {
		_, err := ParseKey(bad)
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseKey(%q) = %v; want an error without the key", bad, err)
		}
	}
}
