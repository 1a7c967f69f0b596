//go:build unix

package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCat runs an exec handler that copies its stdin to the returned output.
func runCat(t *testing.T, mode ExecStdin, job *Job) (string, error) {
	t.Helper()
	var out syncBuffer
	err := Exec(ExecSpec{Command: []string{"cat"}, Stdin: mode, Stdout: &out})(context.Background(), job)
	return out.String(), err
}

func TestExecStdinChoosesPayloadOrData(t *testing.T) {
	object := laravelPayload(t, "send_email")
	objectRaw, err := object.Encode()
	if err != nil {
		t.Fatal(err)
	}
	str := shJob(t)
	for _, tc := range []struct {
		name string
		mode ExecStdin
		job  *Job
		want string
	}{
		{"default is the payload", "", str, string(str.Raw)},
		{"payload", ExecStdinPayload, str, string(str.Raw)},
		{"data of a string job", ExecStdinData, str, `{"to":"a@example.com"}`},
		{"payload of an object job", ExecStdinPayload, &Job{Payload: object, Raw: objectRaw}, string(objectRaw)},
		{"data of an object job", ExecStdinData, &Job{Payload: object, Raw: objectRaw}, sendEmailProps},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runCat(t, tc.mode, tc.job)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("stdin:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestExecStdinDataWithUndecodableCommandDoesNotRun(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	h := Exec(ExecSpec{Command: []string{"touch", marker}, Stdin: ExecStdinData})
	err := h(context.Background(), &Job{Payload: laravelPayload(t, "custom")})
	if !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), "of Custom:") {
		t.Fatalf("err = %v, want ErrBadCommand naming Custom", err)
	}
	if _, statErr := os.Stat(marker); statErr == nil {
		t.Fatal("the command ran although its stdin could not be made")
	}
	// With the payload on stdin the same job runs: the script may read PHP itself.
	if err := Exec(ExecSpec{Command: []string{"touch", marker}})(context.Background(), &Job{Payload: laravelPayload(t, "custom")}); err != nil {
		t.Fatal(err)
	}
	if _, statErr := os.Stat(marker); statErr != nil {
		t.Fatal("stdin = payload did not run the command")
	}
}

func TestExecUnknownStdinMode(t *testing.T) {
	if _, err := runCat(t, "json", shJob(t)); err == nil || !strings.Contains(err.Error(), `unknown stdin "json"`) {
		t.Fatalf("err = %v", err)
	}
}
