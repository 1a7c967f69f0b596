package laravel

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoKey is wrapped by the error for an encrypted command (a job implementing
// ShouldBeEncrypted) met by a worker that was given no app_key.
var ErrNoKey = errors.New("no app_key is configured")

// ErrDecrypt is wrapped by every error Decrypt returns for a payload it cannot open: not
// Laravel's format, a MAC or tag that does not verify (the usual sign of a different APP_KEY),
// or bad padding. Its text never includes the key.
var ErrDecrypt = errors.New("cannot decrypt the command")

// Key is a Laravel APP_KEY: 16 bytes for AES-128, 32 for AES-256. Its String method hides it, so
// a key that reaches a log or an error by mistake shows nothing.
type Key struct{ b []byte }

// String keeps the key out of any text it is formatted into.
func (Key) String() string { return "[app_key hidden]" }

// GoString keeps the key out of %#v as well.
func (k Key) GoString() string { return k.String() }

// ParseKey reads APP_KEY as Laravel's config/app.php does: "base64:" followed by the base64 of
// the key, or the raw key bytes. The error names the problem, never the key.
func ParseKey(s string) (Key, error) {
	b := []byte(s)
	if rest, ok := strings.CutPrefix(s, "base64:"); ok {
		var err error
		if b, err = base64.StdEncoding.DecodeString(rest); err != nil {
			return Key{}, errors.New("app_key: the part after base64: is not base64")
		}
	}
	if len(b) != 16 && len(b) != 32 {
		return Key{}, fmt.Errorf("app_key: the key is %d bytes; Laravel's ciphers take 16 (AES-128) or 32 (AES-256)", len(b))
	}
	return Key{b: b}, nil
}

// sealed is Laravel's encrypted payload once its outer base64 is removed: base64 iv, openssl's
// base64 of the ciphertext, the hex HMAC-SHA256 of iv.value (CBC) and the base64 tag (GCM).
type sealed struct {
	IV    string `json:"iv"`
	Value string `json:"value"`
	MAC   string `json:"mac"`
	Tag   string `json:"tag"`
}

// Decrypt opens what Laravel's Encrypter::encrypt wrote, as Encrypter::decrypt does: the
// cipher follows the key length and the payload (a tag means GCM, else CBC with its MAC checked
// in constant time before decrypting). It returns the plaintext as encrypt() was given it, after
// its own serialize(): see DecryptCommand for a queued job's command.
func (k Key) Decrypt(payload string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: it is not base64", ErrDecrypt)
	}
	var s sealed
	if err := json.Unmarshal(raw, &s); err != nil || s.IV == "" || s.Value == "" {
		return nil, fmt.Errorf("%w: it is not Laravel's encrypted form (iv, value, mac)", ErrDecrypt)
	}
	iv, err := base64.StdEncoding.DecodeString(s.IV)
	if err != nil {
		return nil, fmt.Errorf("%w: the iv is not base64", ErrDecrypt)
	}
	value, err := base64.StdEncoding.DecodeString(s.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: the value is not base64", ErrDecrypt)
	}
	block, err := aes.NewCipher(k.b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	if s.Tag != "" {
		return k.openGCM(block, iv, value, s.Tag)
	}
	return k.openCBC(block, s, iv, value)
}

// openCBC checks the MAC, as Laravel does before it decrypts, then removes PKCS#7 padding.
func (k Key) openCBC(block cipher.Block, s sealed, iv, value []byte) ([]byte, error) {
	mac := hmac.New(sha256.New, k.b)
	mac.Write([]byte(s.IV + s.Value))
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(s.MAC)) {
		return nil, fmt.Errorf("%w: the MAC is invalid (was it encrypted with another APP_KEY?)", ErrDecrypt)
	}
	if len(iv) != aes.BlockSize || len(value) == 0 || len(value)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: the iv or value has the wrong length for AES-CBC", ErrDecrypt)
	}
	out := make([]byte, len(value))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, value)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
	}
	for _, c := range out[len(out)-pad:] {
		if int(c) != pad {
			return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
		}
	}
	return out[:len(out)-pad], nil
}

// openGCM verifies the 16-byte tag while decrypting.
func (k Key) openGCM(block cipher.Block, iv, value []byte, tag64 string) ([]byte, error) {
	tag, err := base64.StdEncoding.DecodeString(tag64)
	if err != nil || len(tag) != 16 {
		return nil, fmt.Errorf("%w: the tag is not 16 base64 bytes", ErrDecrypt)
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	out, err := gcm.Open(nil, iv, append(value, tag...), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: the tag does not verify (was it encrypted with another APP_KEY?)", ErrDecrypt)
	}
	return out, nil
}

// DecryptCommand opens an encrypted data.command. Laravel's createObjectPayload encrypts
// serialize($job) with encrypt()'s own serialize() on top, so the plaintext is a PHP string
// holding the serialized job; CallQueuedHandler::getCommand unwraps it the same way.
func (k Key) DecryptCommand(payload string) (string, error) {
	plain, err := k.Decrypt(payload)
	if err != nil {
		return "", err
	}
	command, ok := unserializeString(plain)
	if !ok {
		return "", fmt.Errorf("%w: the plaintext is not a serialized PHP string", ErrDecrypt)
	}
	return command, nil
}

// unserializeString reads s:len:"bytes"; when b is exactly that.
func unserializeString(b []byte) (string, bool) {
	s := string(b)
	rest, ok := strings.CutPrefix(s, "s:")
	if !ok {
		return "", false
	}
	lenText, rest, ok := strings.Cut(rest, ":\"")
	if !ok {
		return "", false
	}
	n, err := strconv.Atoi(lenText)
	if err != nil || n < 0 || len(rest) != n+2 || rest[n:] != "\";" {
		return "", false
	}
	return rest[:n], true
}

// cipherGCM and cipherCBC name the two forms of Laravel's encrypted payload.
const (
	cipherCBC = "cbc"
	cipherGCM = "gcm"
)

// cipherOf tells which form sealed an encrypted payload ("" when it is not one).
func cipherOf(payload string) string {
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var s sealed
	if json.Unmarshal(raw, &s) != nil || s.Value == "" {
		return ""
	}
	if s.Tag != "" {
		return cipherGCM
	}
	return cipherCBC
}

// EncryptCommand seals a serialized job as Queue::createObjectPayload does for a
// ShouldBeEncrypted job: Encrypter::encrypt of the serialized text (which serializes it once
// more), with AES-GCM when gcm is set and AES-CBC with its MAC otherwise.
func (k Key) EncryptCommand(command string, gcm bool) (string, error) {
	plain := []byte("s:" + strconv.Itoa(len(command)) + `:"` + command + `";`)
	block, err := aes.NewCipher(k.b)
	if err != nil {
		return "", err
	}
	var s sealed
	if gcm {
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return "", err
		}
		iv := make([]byte, aead.NonceSize())
		if _, err := rand.Read(iv); err != nil {
			return "", err
		}
		out := aead.Seal(nil, iv, plain, nil)
		body, tag := out[:len(out)-aead.Overhead()], out[len(out)-aead.Overhead():]
		s = sealed{IV: base64.StdEncoding.EncodeToString(iv), Value: base64.StdEncoding.EncodeToString(body), Tag: base64.StdEncoding.EncodeToString(tag)}
	} else {
		iv := make([]byte, aes.BlockSize)
		if _, err := rand.Read(iv); err != nil {
			return "", err
		}
		pad := aes.BlockSize - len(plain)%aes.BlockSize
		for i := 0; i < pad; i++ {
			plain = append(plain, byte(pad))
		}
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(plain, plain)
		s = sealed{IV: base64.StdEncoding.EncodeToString(iv), Value: base64.StdEncoding.EncodeToString(plain)}
		mac := hmac.New(sha256.New, k.b)
		mac.Write([]byte(s.IV + s.Value))
		s.MAC = hex.EncodeToString(mac.Sum(nil))
	}
	j, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(j), nil
}
