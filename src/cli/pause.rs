//! `remedy pause [--reason …]` and `remedy resume`: the cluster-wide pause switch, the
//! ConfigMap `remedy-pause` in the operator's namespace (see docs/operations.md).

use std::process::ExitCode;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::cluster::{self, ClusterArgs, Failure, OutputFormat};
use crate::operator::pause::{PAUSE_CONFIGMAP, Pause};

/// Arguments of `remedy pause`.
#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    /// Why, for the people who see the waiting runs.
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    switch: SwitchArgs,
}

/// Arguments of `remedy resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    switch: SwitchArgs,
}

/// Where the switch is.
#[derive(Debug, clap::Args)]
struct SwitchArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// The operator's namespace, which holds the switch.
    #[arg(long, env = "REMEDY_OPERATOR_NAMESPACE", default_value = crate::catalog::DEFAULT_OPERATOR_NAMESPACE)]
    operator_namespace: String,
    /// `name` prints only `configmap/remedy-pause`.
    #[arg(short = 'o', long, value_enum)]
    output: Option<OutputFormat>,
}

/// Pauses Remedy.
pub fn pause(args: &PauseArgs) -> ExitCode {
    cluster::block_on(set(&args.switch, true, &args.reason))
}

/// Resumes Remedy.
pub fn resume(args: &ResumeArgs) -> ExitCode {
    cluster::block_on(set(&args.switch, false, ""))
}

async fn set(args: &SwitchArgs, paused: bool, reason: &str) -> Result<(), Failure> {
    if reason.len() > 1024 {
        return Err(Failure::Usage(
            "error: --reason is longer than 1024 bytes".to_string(),
        ));
    }
    let conn = args.cluster.connect().await?;
    let maps: Api<ConfigMap> = Api::namespaced(conn.client.clone(), &args.operator_namespace);
    let current = maps.get_opt(PAUSE_CONFIGMAP).await?;
    let now = Pause::from_data(current.as_ref().and_then(|c| c.data.as_ref()));
    let say = |text: String| {
        if args.output == Some(OutputFormat::Name) {
            println!("configmap/{PAUSE_CONFIGMAP}");
        } else {
            println!("{text}");
        }
    };
    if now.paused == paused {
        say(if paused {
            format!(
                "Remedy is already paused: {}",
                crate::check::render::visible(&now.message())
            )
        } else {
            "Remedy is not paused".to_string()
        });
        return Ok(());
    }
    let wanted = if paused {
        Pause {
            paused: true,
            reason: reason.to_string(),
            paused_by: conn.user.clone(),
            paused_at: jiff::Timestamp::now().to_string(),
        }
    } else {
        Pause::default()
    };
    match current {
        Some(_) => {
            let patch = json!({ "data": wanted.to_data() });
            maps.patch(
                PAUSE_CONFIGMAP,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        }
        None => {
            let cm: ConfigMap = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": PAUSE_CONFIGMAP, "namespace": args.operator_namespace },
                "data": wanted.to_data(),
            }))
            .map_err(|e| Failure::Refused(format!("error: {e}")))?;
            maps.create(&PostParams::default(), &cm).await?;
        }
    }
    say(if paused {
        format!(
            "Remedy paused: no run leaves Validating and no attempt starts; attempts in flight \
             settle. `remedy resume` continues (configmap {}/{PAUSE_CONFIGMAP})",
            args.operator_namespace
        )
    } else {
        "Remedy resumed: runs continue where they were".to_string()
    });
    Ok(())
}
