//! Fuzz planning from its untrusted inputs: any YAML analysis (and param overrides after a
//! `---` line) gives a plan or a typed error, never a panic or a hang.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use remedy::api::{AIAnalysisStatus, JsonMap, WorkflowExecutionSpec};
use remedy::plan::{PlanContext, plan};
use remedy::template::Template;

/// The spec's example template, compiled once.
fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let modules = BTreeMap::from([(
            "mem".to_string(),
            include_str!("../../tests/fixtures/plan/lib/memory.rhai").to_string(),
        )]);
        Template::from_source(
            "oom-recovery.wf",
            include_str!("../../tests/fixtures/plan/oom-recovery.wf"),
            modules,
        )
        .expect("the fixture template loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (analysis, overrides) = text.split_once("\n---\n").unwrap_or((text, ""));
    let Ok(status) = serde_saphyr::from_str::<AIAnalysisStatus>(analysis) else {
        return;
    };
    let spec = WorkflowExecutionSpec {
        parameters: serde_saphyr::from_str::<JsonMap>(overrides).ok(),
        ..WorkflowExecutionSpec::default()
    };
    if let Ok(p) = plan(template(), &status, &spec, &PlanContext::default()) {
        // A plan is pinned in status as JSON: it must serialise and read back the same.
        let json = serde_json::to_value(&p).expect("a plan serialises");
        let back: remedy::plan::ExecutionPlan =
            serde_json::from_value(json).expect("a plan deserialises");
        assert_eq!(back, p);
    }
});
