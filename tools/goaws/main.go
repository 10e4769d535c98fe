// Command goaws runs the goaws v0.5.4 SQS emulator on a loopback port, for
// the tests of internal/aws. goaws's own command listens on 0.0.0.0; this
// one binds 127.0.0.1 only, picks a free port itself and prints the
// address it serves on as its first line of output, so tests need not
// guess a free port. It lives in its own module to keep goaws's
// dependencies (aws-sdk-go v1, logrus, gorilla) out of the main module.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/sirupsen/logrus"
)

func main() {
	sweep := flag.Duration("sweep", time.Second, "how often visibility timeouts and redrives are applied")
	flag.Parse()
	logrus.SetLevel(logrus.WarnLevel)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	dir, err := os.MkdirTemp("", "goaws-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "goaws.yaml")
	yaml := fmt.Sprintf("Local:\n  Host: localhost\n  Port: %d\n  Region: us-east-1\n  AccountId: \"100010001000\"\n  LogToFile: false\n  Queues: []\n  Topics: []\n", port)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		log.Fatal(err)
	}
	conf.LoadYamlConfig(cfg, "Local")

	go gosqs.PeriodicTasks(*sweep, make(chan bool))
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, router.New()))
}
