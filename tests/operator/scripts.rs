//! Scripts and the controllers: a template's scripts never run on the runtime's threads, so a
//! slow or runaway one delays only its own run; a template with errors, or a second file with
//! the same name and version, is not served.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::Harness;
use remedy::api::{FailureReason, WorkflowPhase};

/// Records the script output (`print`, `debug`) logged on the thread it is installed on.
#[derive(Clone, Default)]
struct ScriptOutput(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber> Layer<S> for ScriptOutput {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "remedy::script" {
            let mut text = String::new();
            event.record(
                &mut |_: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                    text.push_str(&format!("{value:?}"));
                },
            );
            if let Ok(mut seen) = self.0.lock() {
                seen.push(text);
            }
        }
    }
}

/// Every script of this template prints, so where it runs can be seen.
const PRINTING: &str = r#"workflow "printing" version "1.0.0" {
  param replicas: int = ${ if print("planning") == () { 3 } else { 0 } }
  step tell {
    when ${ analysis.confidence > 0.5 && print("deciding") == () }
    action "notify_only"
    with { message: "x" }
  }
}
"#;

/// The attack: a `when` that sleeps froze the whole `remedy serve`, because the controller
/// ran scripts on the runtime's threads. On a one-thread runtime, script output logged on
/// that thread would mean a script ran there; none may, while the run still plans and
/// decides (its scripts ran, elsewhere).
#[tokio::test(flavor = "current_thread")]
async fn scripts_never_run_on_the_runtime_threads() {
    let on_runtime_thread = ScriptOutput::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(on_runtime_thread.clone()),
    );
    // The recorder sees a script run on this thread. (First, too: tracing decides once, where
    // a log statement is first reached, whether anyone listens to it.)
    let engine = remedy::script::ScriptEngine::new(&Default::default()).unwrap();
    engine
        .eval_source("print(\"control\")", &Default::default())
        .unwrap();
    assert_eq!(on_runtime_thread.0.lock().unwrap().len(), 1);
    on_runtime_thread.0.lock().unwrap().clear();
    let mut h = Harness::new().await;
    h.template("printing.wf", PRINTING);
    h.start();
    h.analysis("ai-1", "printing").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Completed), "{status:#?}");
    assert_eq!(status.parameters.unwrap()["replicas"], json!(3));
    assert_eq!(h.execution_names("run-1").await, ["run-1-tell-1"]);
    let seen = on_runtime_thread.0.lock().unwrap().clone();
    assert!(
        seen.is_empty(),
        "scripts ran on the runtime's thread: {seen:?}"
    );
}

/// The attack: a stray file declaring the same `name@version` replaced the template the
/// operator served. Now neither copy is served: the run fails as TemplateNotFound, and
/// the message says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_name_and_version_is_not_served() {
    let mut h = Harness::new().await;
    h.template("printing.wf", PRINTING);
    h.template("stray.wf", &PRINTING.replace("\"x\"", "\"stray\""));
    h.start();
    h.analysis("ai-1", "printing").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Failed), "{status:#?}");
    let failure = status.failure.unwrap();
    assert_eq!(failure.reason, FailureReason::TemplateNotFound);
    assert!(
        failure.message.contains("printing@1.0.0 in ")
            && failure.message.contains("printing.wf and ")
            && failure
                .message
                .contains("stray.wf, which both declare it ([E0006])"),
        "{}",
        failure.message
    );
    assert!(h.execution_names("run-1").await.is_empty());
}
