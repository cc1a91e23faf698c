//! What the live-cluster commands (`list`, `get`, `watch`, `approve`, `stop`, `retry`,
//! `pause`, `resume`) share: the kubectl flags, the connection, reading a run, printing an
//! object, and errors in kubectl's words with the exit codes 0 (ok), 1 (refused: no such
//! run, forbidden, not a running run, the cluster unreachable) and 2 (usage).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::Serialize;

use crate::api::WorkflowExecution;
use crate::check::render::visible;

/// The resource as kubectl names it in messages.
pub const RESOURCE: &str = "workflowexecutions.workflowexecution.kubernaut.io";

/// The kubectl flags that choose a cluster and a namespace.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
}

/// How an object or a list is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// More columns (more detail).
    Wide,
    /// The object(s) as JSON.
    Json,
    /// The object(s) as YAML.
    Yaml,
    /// `workflowexecution.workflowexecution.kubernaut.io/NAME`, one a line.
    Name,
}

/// Why a command did not do what it was asked.
#[derive(Debug)]
pub enum Failure {
    /// Refused: the message, in kubectl's words (exit 1).
    Refused(String),
    /// A usage error: a bad flag value, a kubeconfig that does not say what is asked (exit 2).
    Usage(String),
}

impl Failure {
    /// Prints the message and answers the exit code.
    pub fn exit(self) -> ExitCode {
        match self {
            Failure::Refused(m) => {
                eprintln!("{m}");
                ExitCode::from(1)
            }
            Failure::Usage(m) => {
                eprintln!("{m}");
                ExitCode::from(2)
            }
        }
    }
}

impl From<kube::Error> for Failure {
    fn from(e: kube::Error) -> Self {
        Failure::Refused(describe_error(&e))
    }
}

/// An API error as kubectl prints it: `Error from server (NotFound): …`.
pub fn describe_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            let reason = if s.reason.is_empty() {
                format!("{}", s.code)
            } else {
                s.reason.clone()
            };
            // The server's words, which a hostile or broken server could fill with escapes.
            format!(
                "Error from server ({}): {}",
                visible(&reason),
                visible(&s.message)
            )
        }
        other => format!(
            "error: cannot talk to the cluster: {}",
            visible(&other.to_string())
        ),
    }
}

/// A connected client, its namespace and the name of the user it acts as.
pub struct Connection {
    /// The client.
    pub client: Client,
    /// The namespace commands act in (`-n`, else the context's).
    pub namespace: String,
    /// Who this is, for `requestedBy` and `pausedBy`: the kubeconfig user of the context,
    /// else `$USER` (informative: the cluster does not tell a client who it is).
    pub user: String,
}

impl ClusterArgs {
    /// Connects as the flags and `KUBECONFIG` say.
    pub async fn connect(&self) -> Result<Connection, Failure> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let kubeconfig = match &self.kubeconfig {
            Some(path) => Some(Kubeconfig::read_from(path).map_err(|e| {
                Failure::Usage(format!(
                    "error: cannot read the kubeconfig {}: {e}",
                    path.display()
                ))
            })?),
            None => Kubeconfig::read().ok(),
        };
        let (config, user) = match kubeconfig {
            Some(kc) => {
                let context = self
                    .context
                    .clone()
                    .or_else(|| kc.current_context.clone())
                    .unwrap_or_default();
                let user = kc
                    .contexts
                    .iter()
                    .find(|c| c.name == context)
                    .and_then(|c| c.context.as_ref())
                    .and_then(|c| c.user.clone());
                if self.context.is_some() && !kc.contexts.iter().any(|c| c.name == context) {
                    return Err(Failure::Usage(format!(
                        "error: context \"{context}\" does not exist"
                    )));
                }
                let config = Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| Failure::Usage(format!("error: the kubeconfig: {e}")))?;
                (config, user)
            }
            None if self.context.is_some() => {
                return Err(Failure::Usage(
                    "error: --context needs a kubeconfig, and none was found".to_string(),
                ));
            }
            None => (
                Config::incluster().map_err(|e| {
                    Failure::Usage(format!(
                        "error: no kubeconfig found (set KUBECONFIG or --kubeconfig) and not in a cluster: {e}"
                    ))
                })?,
                None,
            ),
        };
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config)
            .map_err(|e| Failure::Refused(format!("error: cannot build a client: {e}")))?;
        let user = user
            .filter(|u| !u.is_empty())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".to_string());
        Ok(Connection {
            client,
            namespace,
            user,
        })
    }
}

impl Connection {
    /// The runs of the namespace.
    pub fn runs(&self) -> Api<WorkflowExecution> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Reads run `name`, or refuses as kubectl does when there is none.
    pub async fn run(&self, name: &str) -> Result<WorkflowExecution, Failure> {
        match self.runs().get_opt(name).await? {
            Some(run) => Ok(run),
            None => Err(not_found(name)),
        }
    }
}

/// kubectl's words for a run that does not exist.
pub fn not_found(name: &str) -> Failure {
    Failure::Refused(format!(
        "Error from server (NotFound): {RESOURCE} \"{name}\" not found"
    ))
}

/// The words for an operation on a run that has ended.
pub fn not_running(run: &WorkflowExecution, what: &str) -> Failure {
    let phase = run
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .map_or("unknown", |p| p.as_str());
    Failure::Refused(format!(
        "error: {RESOURCE} \"{}\" is not a running run (phase {phase}): {what}",
        run.metadata.name.as_deref().unwrap_or_default()
    ))
}

/// `workflowexecution.workflowexecution.kubernaut.io/NAME`, as `-o name` prints it.
pub fn object_name(name: &str) -> String {
    format!("workflowexecution.workflowexecution.kubernaut.io/{name}")
}

/// Prints `value` as JSON or YAML.
pub fn print_structured(value: &impl Serialize, format: OutputFormat) -> Result<(), Failure> {
    let text = match format {
        OutputFormat::Yaml => serde_saphyr::to_string(value)
            .map_err(|e| Failure::Refused(format!("error: cannot write YAML: {e}")))?,
        _ => {
            let mut t = serde_json::to_string_pretty(value)
                .map_err(|e| Failure::Refused(format!("error: cannot write JSON: {e}")))?;
            t.push('\n');
            t
        }
    };
    let mut out = std::io::stdout();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(())
}

/// A run as `-o json|yaml` prints it: with its apiVersion and kind, without managedFields.
pub fn printable(run: &WorkflowExecution) -> serde_json::Value {
    let mut run = run.clone();
    run.metadata.managed_fields = None;
    let mut value = serde_json::to_value(&run).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "apiVersion".into(),
            "workflowexecution.kubernaut.io/v1alpha1".into(),
        );
        obj.insert("kind".into(), "WorkflowExecution".into());
    }
    value
}

/// A duration as kubectl's AGE column shows it: `42s`, `5m`, `3h`, `2d`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Runs a live-cluster command on the runtime; its failures become exit codes.
pub fn block_on<F>(future: F) -> ExitCode
where
    F: std::future::Future<Output = Result<(), Failure>>,
{
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_read_as_kubectl_prints_them() {
        let forbidden = kube::Error::Api(Box::new(kube::core::Status::failure(
            "workflowexecutions.workflowexecution.kubernaut.io \"x\" is forbidden: User \"bob\" cannot patch",
            "Forbidden",
        ).with_code(403)));
        assert_eq!(
            describe_error(&forbidden),
            "Error from server (Forbidden): workflowexecutions.workflowexecution.kubernaut.io \"x\" is forbidden: User \"bob\" cannot patch"
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(150), "2m");
        assert_eq!(age(3 * 3600), "3h");
        assert_eq!(age(3 * 86_400), "3d");
        assert_eq!(age(-4), "0s");
    }
}
