// The oldest kubectl the waiter works with (src/waiter.ts says why), built from
// the pinned k8s.io/kubectl module, so that the e2e suite runs the waiter cases
// with it as well as with the default image's kubectl. This is the whole of
// upstream's cmd/kubectl: the root command, run through component-base.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"

	// The client auth plugins (exec, oidc) that upstream's kubectl links in.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	os.Exit(cli.Run(cmd.NewDefaultKubectlCommand()))
}
