"""The quick-start example (examples/laravel/main.ts), written in Python.

A Laravel app whose image also carries its migrations: `php artisan migrate`
runs once per release in a Job, and the new pods wait for it. It writes
laravel.k8s.yaml to $CDK8S_OUTDIR (default: dist), which must equal the
TypeScript example's output byte for byte.
"""

import cdk8s_plus_27 as kplus
from cdk8s import App, Chart, Size

from cdk8s_migrated_app import MigratedApplication, ApplicationMigrationOptions

# www-data: the php images would otherwise run as root.
www_data = kplus.ContainerSecurityContextProps(user=33, group=33)

app = App()
chart = Chart(app, "laravel")

MigratedApplication(
    chart,
    "shop",
    name="shop",
    image="ghcr.io/example/shop:2.4.1",
    ports=[kplus.ContainerPort(number=8080, name="http")],
    # Both reach the app and the migration through envFrom.
    config={
        "APP_ENV": "production",
        "DB_CONNECTION": "mysql",
        "DB_HOST": "mysql.database.svc.cluster.local",
        "DB_DATABASE": "shop",
        "DB_USERNAME": "shop",
    },
    # Placeholder: in production, keep it out of git with `existing_secret`.
    secret_values={"DB_PASSWORD": "change-me"},
    migration=ApplicationMigrationOptions(
        # A migration is short and mostly waits on the database: a small request, room to burst.
        resources=kplus.ContainerResources(
            cpu=kplus.CpuResources(request=kplus.Cpu.millis(100), limit=kplus.Cpu.units(1)),
            memory=kplus.MemoryResources(request=Size.mebibytes(128), limit=Size.mebibytes(512)),
        ),
        command=["php", "artisan", "migrate", "--force"],
        security_context=www_data,
    ),
    security_context=www_data,
    resources=kplus.ContainerResources(
        cpu=kplus.CpuResources(request=kplus.Cpu.millis(250), limit=kplus.Cpu.units(1)),
        memory=kplus.MemoryResources(request=Size.mebibytes(256), limit=Size.mebibytes(512)),
    ),
    readiness=kplus.Probe.from_http_get("/up", port=8080),
)

app.synth()
