package manager_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/manager"
)

// A Go program pushes jobs and reads a queue's state through the manager, as `qctl push` and
// `qctl status` do.
func Example() {
	dir, _ := os.MkdirTemp("", "qctl-example")
	defer os.RemoveAll(dir)
	cfg, err := config.Load([]byte(`
[connections.database]
driver = "database"
dsn = "` + filepath.Join(dir, "queue.db") + `"
`))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	m := manager.New(cfg, manager.Options{})
	conn, err := m.Open(ctx, "") // the default connection
	if err != nil {
		panic(err)
	}
	defer conn.Close()

	datas := []json.RawMessage{[]byte(`{"to":"ann@example.com"}`), []byte(`{"to":"bob@example.com"}`)}
	ids, err := conn.Push(ctx, "SendEmail", datas, manager.PushOptions{Queue: "mail", Tries: 3})
	if err != nil {
		panic(err)
	}
	snap, err := conn.Snapshot(ctx, nil, []string{"mail"})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(ids), "pushed;", snap.Queues[0].Queue, "has", snap.Queues[0].Ready, "ready")
	// Output: 2 pushed; mail has 2 ready
}
