//! `remedy serve`: the embedded Kubernetes API server on a loopback port, for kubectl.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use crate::cluster::{Config, EmbeddedCluster, SimulationConfig, kubeconfig};

/// Arguments of `remedy serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Loopback address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Write a kubeconfig that points kubectl at the server to this file.
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// Do not run the workload simulation (controllers, scheduler, kubelets).
    #[arg(long)]
    pub no_simulation: bool,
    /// Milliseconds after scheduling before a simulated pod becomes Ready.
    #[arg(long, default_value_t = 1000)]
    pub pod_ready_delay_ms: u64,
    /// Number of simulated nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// The template directory the workflow controller loads.
    #[arg(long, default_value = "workflows")]
    pub templates: PathBuf,
    /// Serve only the API: no CRDs, no workflow controller, no executor.
    #[arg(long)]
    pub no_controllers: bool,
    /// Images that fail to pull (substring match; repeatable): their pods stay in ImagePullBackOff.
    #[arg(long = "failing-image")]
    pub failing_images: Vec<String>,
    /// Where finished runs are archived (default: archive.sqlite in the XDG data directory).
    #[command(flatten)]
    pub archive: super::archive_flags::ArchiveFlags,
    /// How long finished runs stay.
    #[command(flatten)]
    pub retention: super::archive_flags::RetentionFlags,
}

/// Runs the server until interrupted; exit code 2 when it cannot start.
pub fn run(args: ServeArgs) -> ExitCode {
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> ExitCode {
    let archive = if args.no_controllers {
        None
    } else {
        match args.archive.open(true) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let cluster = EmbeddedCluster::new(Config::default());
    let _simulation = (!args.no_simulation).then(|| {
        cluster.start_simulation(SimulationConfig {
            pod_ready_delay: Duration::from_millis(args.pod_ready_delay_ms),
            nodes: args.nodes,
            failing_images: args.failing_images.clone(),
            ..SimulationConfig::default()
        })
    });
    let addr = match cluster.serve(args.listen).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &args.kubeconfig_out
        && let Err(e) = std::fs::write(path, kubeconfig(addr))
    {
        eprintln!(
            "error: cannot write the kubeconfig to {}: {e}",
            path.display()
        );
        return ExitCode::from(2);
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let controllers = if args.no_controllers {
        Vec::new()
    } else {
        match crate::scenario::controllers::start_in_cluster(
            &cluster.client(),
            &args.templates,
            1.0,
            &stop,
            archive.clone(),
            args.retention.config(&args.archive),
        )
        .await
        {
            Ok(handles) => handles,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "remedy serve: listening on http://{addr}");
    if !args.no_controllers {
        let _ = writeln!(
            out,
            "remedy serve: CRDs installed; workflow controller and executor running (templates: {})",
            args.templates.display()
        );
        // A template that does not pass lint is not served: say so now, with its errors,
        // rather than leave a run to find out with TemplateNotFound.
        let (_, rejected) = crate::template::TemplateCatalog::load_dir_lenient(&args.templates);
        for e in &rejected {
            let rejected = crate::operator::planning::Rejected::from_error(e);
            eprintln!(
                "warning: template left out: {}",
                crate::check::render::visible(&rejected.to_string())
            );
        }
        if let Some(archive) = &archive {
            let _ = writeln!(
                out,
                "remedy serve: finished runs are archived to {} (remedy history)",
                archive.location()
            );
        }
    }
    if let Some(path) = &args.kubeconfig_out {
        let _ = writeln!(
            out,
            "remedy serve: kubeconfig written to {} (KUBECONFIG={} kubectl get pods)",
            path.display(),
            path.display()
        );
    }
    let _ = out.flush();
    let waited = tokio::signal::ctrl_c().await;
    stop.cancel();
    for handle in controllers {
        let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
    }
    match waited {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: waiting for interrupt: {e}");
            ExitCode::FAILURE
        }
    }
}
