package beanstalkqueue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// This file speaks the few commands that batch operations pipeline (reserve-with-timeout 0,
// stats-job, delete) straight to the socket: go-beanstalk writes and flushes one command at a
// time, so n jobs would cost n round trips and 2n system calls on each side. Here a batch's
// commands go out in one write and their replies are read in order through one buffer, which is
// what lets a worker drain beanstalkd close to the server's own speed. Everything else (use,
// watch, put, release, bury, touch, kick, peek, stats) stays on go-beanstalk.
//
// Every function runs under c.mu. A reply this file does not expect (an error line, a malformed
// header) is returned as a protocol error, not a server reply, so conn.do discards the
// connection: its position in the reply stream is then unknown, and closing it is also what
// hands back any job it reserved.

// pipeline collects command lines for one write.
type pipeline struct {
	buf []byte
}

func (p *pipeline) reserveNow() {
	p.buf = append(p.buf, "reserve-with-timeout 0\r\n"...)
}

func (p *pipeline) statsJob(id uint64) {
	p.buf = append(p.buf, "stats-job "...)
	p.buf = strconv.AppendUint(p.buf, id, 10)
	p.buf = append(p.buf, "\r\n"...)
}

// put appends a put command and its body: the caller's connection already uses the tube.
func (p *pipeline) put(pri uint32, delay, ttr time.Duration, body []byte) {
	p.buf = append(p.buf, "put "...)
	p.buf = strconv.AppendUint(p.buf, uint64(pri), 10)
	p.buf = append(p.buf, ' ')
	p.buf = strconv.AppendInt(p.buf, int64(delay/time.Second), 10)
	p.buf = append(p.buf, ' ')
	p.buf = strconv.AppendInt(p.buf, int64(ttr/time.Second), 10)
	p.buf = append(p.buf, ' ')
	p.buf = strconv.AppendInt(p.buf, int64(len(body)), 10)
	p.buf = append(p.buf, "\r\n"...)
	p.buf = append(p.buf, body...)
	p.buf = append(p.buf, "\r\n"...)
}

func (p *pipeline) delete(id uint64) {
	p.buf = append(p.buf, "delete "...)
	p.buf = strconv.AppendUint(p.buf, id, 10)
	p.buf = append(p.buf, "\r\n"...)
}

// send writes the collected commands in one write.
func (c *conn) send(p *pipeline) error {
	if c.rd == nil {
		c.rd = bufio.NewReaderSize(c.nc, 16<<10)
	}
	_, err := c.nc.Write(p.buf)
	return err
}

// errProtocol marks a reply this file cannot make sense of.
type errProtocol struct {
	op, line string
}

func (e *errProtocol) Error() string {
	return fmt.Sprintf("unexpected reply to %s: %q", e.op, e.line)
}

// readLine reads one reply line without its CRLF.
func (c *conn) readLine() ([]byte, error) {
	line, err := c.rd.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, &errProtocol{"a pipelined command", string(line)}
	}
	return line[:len(line)-2], nil
}

// readBody reads a reply's n data bytes and their CRLF into a new slice.
func (c *conn) readBody(n int) ([]byte, error) {
	body := make([]byte, n+2)
	if _, err := io.ReadFull(c.rd, body); err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(body, []byte("\r\n")) {
		return nil, &errProtocol{"a pipelined command", "data without CRLF"}
	}
	return body[:n:n], nil
}

// readReserved reads the reply to reserve-with-timeout 0: a job, or ok = false when none was
// ready (TIMED_OUT, or DEADLINE_SOON, which means the same to a connection that waits for
// nothing).
func (c *conn) readReserved() (id uint64, body []byte, ok bool, err error) {
	line, err := c.readLine()
	if err != nil {
		return 0, nil, false, err
	}
	switch string(line) {
	case "TIMED_OUT", "DEADLINE_SOON":
		return 0, nil, false, nil
	}
	var n int
	if id, n, err = parseHeader(line, "RESERVED ", true); err != nil {
		return 0, nil, false, &errProtocol{"reserve", string(line)}
	}
	body, err = c.readBody(n)
	return id, body, err == nil, err
}

// readJobStats reads the reply to stats-job: the job's reserves count (its attempts), priority and
// TTR.
func (c *conn) readJobStats() (attempts int, res reservation, err error) {
	line, err := c.readLine()
	if err != nil {
		return 0, res, err
	}
	_, n, err := parseHeader(line, "OK ", false)
	if err != nil {
		return 0, res, &errProtocol{"stats-job", string(line)}
	}
	yaml, err := c.readBody(n)
	if err != nil {
		return 0, res, err
	}
	return parseStatsYAML(yaml)
}

// readInserted reads the reply to put. A reply line the server sends for a job it refused
// (JOB_TOO_BIG, DRAINING, and BURIED, which means it kept the job but buried it for want of
// memory) comes back as refused, so the caller can go on reading the replies after it.
func (c *conn) readInserted() (id uint64, refused string, err error) {
	line, err := c.readLine()
	if err != nil {
		return 0, "", err
	}
	if rest, ok := bytes.CutPrefix(line, []byte("INSERTED ")); ok {
		if id, err = strconv.ParseUint(string(rest), 10, 64); err == nil {
			return id, "", nil
		}
	}
	switch {
	case string(line) == "JOB_TOO_BIG", string(line) == "DRAINING", bytes.HasPrefix(line, []byte("BURIED ")):
		return 0, string(line), nil
	}
	return 0, "", &errProtocol{"put", string(line)}
}

// readDeleted reads the reply to delete: found is false for NOT_FOUND, which means the
// reservation had already ended (its TTR ran out).
func (c *conn) readDeleted() (found bool, err error) {
	line, err := c.readLine()
	if err != nil {
		return false, err
	}
	switch string(line) {
	case "DELETED":
		return true, nil
	case "NOT_FOUND":
		return false, nil
	}
	return false, &errProtocol{"delete", string(line)}
}

// parseHeader reads "<prefix>[<id> ]<bytes>" from a reply line.
func parseHeader(line []byte, prefix string, withID bool) (id uint64, n int, err error) {
	rest, ok := bytes.CutPrefix(line, []byte(prefix))
	if !ok {
		return 0, 0, errBadHeader
	}
	if withID {
		idText, after, ok := bytes.Cut(rest, []byte(" "))
		if !ok {
			return 0, 0, errBadHeader
		}
		if id, err = strconv.ParseUint(string(idText), 10, 64); err != nil {
			return 0, 0, errBadHeader
		}
		rest = after
	}
	if n, err = strconv.Atoi(string(rest)); err != nil || n < 0 {
		return 0, 0, errBadHeader
	}
	return id, n, nil
}

var errBadHeader = errors.New("malformed reply header")

// parseStatsYAML reads attempts (reserves), priority and TTR from a stats-job reply's YAML, a
// "---" line then one "key: value" per line, without building go-beanstalk's map.
func parseStatsYAML(yaml []byte) (attempts int, res reservation, err error) {
	var reserves, pri, ttr string
	for line := range bytes.SplitSeq(yaml, []byte("\n")) {
		key, value, ok := bytes.Cut(line, []byte(": "))
		if !ok {
			continue
		}
		switch string(key) {
		case "reserves":
			reserves = string(value)
		case "pri":
			pri = string(value)
		case "ttr":
			ttr = string(value)
		}
	}
	return jobStats(reserves, pri, ttr)
}

// parseJobStats reads attempts (reserves), priority and TTR from go-beanstalk's stats-job map.
func parseJobStats(st map[string]string) (attempts int, res reservation, err error) {
	return jobStats(st["reserves"], st["pri"], st["ttr"])
}

func jobStats(reserves, pri, ttr string) (attempts int, res reservation, err error) {
	r, err1 := strconv.Atoi(reserves)
	p, err2 := strconv.ParseUint(pri, 10, 32)
	t, err3 := strconv.ParseInt(ttr, 10, 64)
	if err := joinErrors(err1, err2, err3); err != nil {
		return 0, res, fmt.Errorf("unreadable stats-job reply (reserves %q, pri %q, ttr %q): %w", reserves, pri, ttr, err)
	}
	return r, reservation{pri: uint32(p), ttr: time.Duration(t) * time.Second}, nil
}
