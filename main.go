// Command qctl runs and manages queue workers that share their queues with Laravel and
// think-queue. This file only wires signals and the exit status; everything else is in commands/.
// A Go program that embeds qctl copies it and registers its own handlers on the registry.
package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/qctl/qctl/commands"
	"github.com/qctl/qctl/jobs"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR2, syscall.SIGCONT)
	os.Exit(commands.Run(os.Args, commands.Program{Handlers: jobs.NewRegistry(), Signals: signals}))
}
