// pause is the pod sandbox's process: it holds the pod's namespaces open and
// does nothing else until the kubelet (through containerd) stops the pod with
// SIGTERM, or SIGINT arrives. It does not reap orphans (pods here do not share
// a PID namespace).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
