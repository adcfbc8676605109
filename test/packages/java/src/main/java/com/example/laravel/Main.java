package com.example.laravel;

import io.github.cdk8s_migrated_app.MigratedApplication;
import io.github.cdk8s_migrated_app.ApplicationMigrationOptions;
import java.util.List;
import java.util.Map;
import org.cdk8s.App;
import org.cdk8s.Chart;
import org.cdk8s.Size;
import org.cdk8s.plus27.ContainerPort;
import org.cdk8s.plus27.ContainerResources;
import org.cdk8s.plus27.Cpu;
import org.cdk8s.plus27.CpuResources;
import org.cdk8s.plus27.ContainerSecurityContextProps;
import org.cdk8s.plus27.HttpGetProbeOptions;
import org.cdk8s.plus27.MemoryResources;
import org.cdk8s.plus27.Probe;

/**
 * The quick-start example (examples/laravel/main.ts), written in Java.
 *
 * <p>A Laravel app whose image also carries its migrations: {@code php artisan migrate} runs once
 * per release in a Job, and the new pods wait for it. It writes laravel.k8s.yaml to
 * $CDK8S_OUTDIR (default: dist), which must equal the TypeScript example's output byte for byte.
 */
public final class Main {
  private Main() {}

  public static void main(final String[] args) {
    // www-data: the php images would otherwise run as root.
    ContainerSecurityContextProps wwwData = ContainerSecurityContextProps.builder().user(33).group(33).build();

    App app = new App();
    Chart chart = new Chart(app, "laravel");

    MigratedApplication.Builder.create(chart, "shop")
        .name("shop")
        .image("ghcr.io/example/shop:2.4.1")
        .ports(List.of(ContainerPort.builder().number(8080).name("http").build()))
        // Both reach the app and the migration through envFrom.
        .config(Map.of(
            "APP_ENV", "production",
            "DB_CONNECTION", "mysql",
            "DB_HOST", "mysql.database.svc.cluster.local",
            "DB_DATABASE", "shop",
            "DB_USERNAME", "shop"))
        // Placeholder: in production, keep it out of git with existingSecret.
        .secretValues(Map.of("DB_PASSWORD", "change-me"))
        .migration(ApplicationMigrationOptions.builder()
            // A migration is short and mostly waits on the database: a small request, room to burst.
            .resources(ContainerResources.builder()
                .cpu(CpuResources.builder().request(Cpu.millis(100)).limit(Cpu.units(1)).build())
                .memory(MemoryResources.builder().request(Size.mebibytes(128)).limit(Size.mebibytes(512)).build())
                .build())
            .command(List.of("php", "artisan", "migrate", "--force"))
            .securityContext(wwwData)
            .build())
        .securityContext(wwwData)
        .resources(ContainerResources.builder()
            .cpu(CpuResources.builder().request(Cpu.millis(250)).limit(Cpu.units(1)).build())
            .memory(MemoryResources.builder().request(Size.mebibytes(256)).limit(Size.mebibytes(512)).build())
            .build())
        .readiness(Probe.fromHttpGet("/up", HttpGetProbeOptions.builder().port(8080).build()))
        .build();

    app.synth();
  }
}
