package beanstalkqueue

import (
	"fmt"
	"strconv"
	"strings"
)

// receipt identifies one reservation: the Queue that made it, the server and connection holding it
// (beanstalkd accepts delete, release, bury and touch of a reserved job only on that connection),
// and the reservation's number, which goes stale once the reservation ends, so an old Reserved can
// never act on a newer reservation of the same job on a reused connection.
type receipt struct {
	instance, server, conn, gen uint64
}

// String encodes r as "instance.server.conn.gen".
func (r receipt) String() string {
	b := make([]byte, 0, 32)
	b = strconv.AppendUint(b, r.instance, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, r.server, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, r.conn, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, r.gen, 10)
	return string(b)
}

func parseReceipt(s string) (receipt, error) {
	var n [4]uint64
	rest := s
	for i := range n {
		field := rest
		if i < len(n)-1 {
			var ok bool
			field, rest, ok = strings.Cut(rest, ".")
			if !ok {
				return receipt{}, fmt.Errorf("beanstalkqueue: %q is not a beanstalkd reservation receipt", s)
			}
		}
		v, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			return receipt{}, fmt.Errorf("beanstalkqueue: %q is not a beanstalkd reservation receipt", s)
		}
		n[i] = v
	}
	return receipt{instance: n[0], server: n[1], conn: n[2], gen: n[3]}, nil
}
