package beanstalkqueue

import (
	"fmt"

	"github.com/qctl/qctl/connectors"
)

// serverFor returns the server that owns tube, by rendezvous (highest random weight) hashing: each
// server scores hash(address, tube) and the highest score wins.
//
// Rendezvous rather than hash-mod-n because a tube's jobs live on its server: when a server is
// added to or removed from Addrs, hash-mod-n moves almost every tube to another server, stranding
// their waiting jobs where no worker looks any more, while rendezvous moves only the tubes the
// changed server wins or loses (about 1/n). Its cost, one small hash per server per call, is noise
// next to a network round trip.
func (q *Queue) serverFor(tube string) *server {
	if len(q.servers) == 1 {
		return q.servers[0]
	}
	best, bestScore := q.servers[0], score(q.servers[0].addr, tube)
	for _, s := range q.servers[1:] {
		if sc := score(s.addr, tube); sc > bestScore {
			best, bestScore = s, sc
		}
	}
	return best
}

// score is 64-bit FNV-1a of addr, a zero byte and tube, finished with murmur3's fmix64 so that
// names differing only in their last bytes still spread evenly. Both are fixed algorithms, so every
// process (and any other client that implements them) places a tube on the same server.
func score(addr, tube string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(addr); i++ {
		h = (h ^ uint64(addr[i])) * prime
	}
	h *= prime // the zero separator byte: h ^ 0 == h
	for i := 0; i < len(tube); i++ {
		h = (h ^ uint64(tube[i])) * prime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// nameChars marks the bytes beanstalkd allows in a tube name.
var nameChars = func() (ok [256]bool) {
	for _, b := range []byte(`-+/;.$_()0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz`) {
		ok[b] = true
	}
	return ok
}()

// CheckQueueName rejects a tube name beanstalkd would refuse (see checkTube).
func (q *Queue) CheckQueueName(tube string) error { return checkTube(tube) }

// checkTube rejects a name beanstalkd would refuse, before anything is sent: letters, digits and
// -+/;.$_(), not starting with a hyphen, 1 to 199 bytes (beanstalkd allows 200, go-beanstalk 199).
func checkTube(tube string) error {
	if tube == "" || len(tube) >= 200 || tube[0] == '-' {
		return fmt.Errorf("beanstalkqueue: %w: tube %q: 1 to 199 characters, not starting with '-'", connectors.ErrInvalidQueueName, tube)
	}
	for i := 0; i < len(tube); i++ {
		if !nameChars[tube[i]] {
			return fmt.Errorf("beanstalkqueue: %w: tube %q: %q is not allowed (letters, digits and -+/;.$_() are)", connectors.ErrInvalidQueueName, tube, tube[i])
		}
	}
	return nil
}
