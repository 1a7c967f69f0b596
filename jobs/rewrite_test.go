package jobs

import (
	"testing"
	"time"
)

func TestForRetry(t *testing.T) {
	now := time.Unix(1795000000, 0)
	cases := []struct{ name, in, want string }{
		{"laravel database payload unchanged", `{"uuid":"u","job":"A","data":{"attempts":5}}`, `{"uuid":"u","job":"A","data":{"attempts":5}}`},
		{"redis attempts reset, order kept", `{"uuid":"u","job":"A","data":[1, 2],"id":"x","attempts":7}`, `{"uuid":"u","job":"A","data":[1, 2],"id":"x","attempts":0}`},
		{"passed retryUntil cleared", `{"uuid":"u","retryUntil":1794999999,"data":null,"attempts":1}`, `{"uuid":"u","retryUntil":null,"data":null,"attempts":0}`},
		{"future retryUntil kept", `{"uuid":"u","retryUntil":1795000100,"data":null}`, `{"uuid":"u","retryUntil":1795000100,"data":null}`},
		{"null retryUntil kept", `{"uuid":"u","retryUntil":null,"data":null}`, `{"uuid":"u","retryUntil":null,"data":null}`},
		{"think-queue timeoutAt cleared", `{"job":"A","timeoutAt":1700000000,"data":"<&>","attempts":2}`, `{"job":"A","timeoutAt":null,"data":"<&>","attempts":0}`},
		{"not JSON", `<?php garbage "attempts"`, `<?php garbage "attempts"`},
		{"not an object", `["attempts"]`, `["attempts"]`},
	}
	for _, tc := range cases {
		if got := string(ForRetry([]byte(tc.in), now)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
