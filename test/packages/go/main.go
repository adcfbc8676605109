// The quick-start example (examples/laravel/main.ts), written in Go.
//
// A Laravel app whose image also carries its migrations: `php artisan migrate`
// runs once per release in a Job, and the new pods wait for it. It writes
// laravel.k8s.yaml to $CDK8S_OUTDIR (default: dist), which must equal the
// TypeScript example's output byte for byte.
package main

import (
	"github.com/aws/jsii-runtime-go"
	"github.com/cdk8s-migrated-app/cdk8s-migrated-app-go/cdk8smigratedapp"
	"github.com/cdk8s-team/cdk8s-core-go/cdk8s/v2"
	"github.com/cdk8s-team/cdk8s-plus-go/cdk8splus27/v2"
)

func main() {
	defer jsii.Close()

	// www-data: the php images would otherwise run as root.
	wwwData := &cdk8splus27.ContainerSecurityContextProps{
		User:  jsii.Number(33),
		Group: jsii.Number(33),
	}

	app := cdk8s.NewApp(nil)
	chart := cdk8s.NewChart(app, jsii.String("laravel"), nil)

	cdk8smigratedapp.NewMigratedApplication(chart, jsii.String("shop"), &cdk8smigratedapp.MigratedApplicationProps{
		Name:  jsii.String("shop"),
		Image: jsii.String("ghcr.io/example/shop:2.4.1"),
		Ports: &[]*cdk8splus27.ContainerPort{
			{Number: jsii.Number(8080), Name: jsii.String("http")},
		},
		// Both reach the app and the migration through envFrom.
		Config: &map[string]*string{
			"APP_ENV":       jsii.String("production"),
			"DB_CONNECTION": jsii.String("mysql"),
			"DB_HOST":       jsii.String("mysql.database.svc.cluster.local"),
			"DB_DATABASE":   jsii.String("shop"),
			"DB_USERNAME":   jsii.String("shop"),
		},
		// Placeholder: in production, keep it out of git with ExistingSecret.
		SecretValues: &map[string]*string{"DB_PASSWORD": jsii.String("change-me")},
		Migration: &cdk8smigratedapp.ApplicationMigrationOptions{
			// A migration is short and mostly waits on the database: a small request, room to burst.
			Resources: &cdk8splus27.ContainerResources{
				Cpu:    &cdk8splus27.CpuResources{Request: cdk8splus27.Cpu_Millis(jsii.Number(100)), Limit: cdk8splus27.Cpu_Units(jsii.Number(1))},
				Memory: &cdk8splus27.MemoryResources{Request: cdk8s.Size_Mebibytes(jsii.Number(128)), Limit: cdk8s.Size_Mebibytes(jsii.Number(512))},
			},
			Command:         jsii.Strings("php", "artisan", "migrate", "--force"),
			SecurityContext: wwwData,
		},
		SecurityContext: wwwData,
		Resources: &cdk8splus27.ContainerResources{
			Cpu:    &cdk8splus27.CpuResources{Request: cdk8splus27.Cpu_Millis(jsii.Number(250)), Limit: cdk8splus27.Cpu_Units(jsii.Number(1))},
			Memory: &cdk8splus27.MemoryResources{Request: cdk8s.Size_Mebibytes(jsii.Number(256)), Limit: cdk8s.Size_Mebibytes(jsii.Number(512))},
		},
		Readiness: cdk8splus27.Probe_FromHttpGet(jsii.String("/up"), &cdk8splus27.HttpGetProbeOptions{
			Port: jsii.Number(8080),
		}),
	})

	app.Synth()
}
