//! What the language's documentation says of the names expressions see and of the keywords,
//! for hover and completion. The words follow docs/scripting.md, docs/language.md and the
//! AIAnalysis contract; a test keeps every field named here present in docs/scripting.md or
//! the contract.

/// A name with what it means.
pub type Entry = (&'static str, &'static str);

/// The roots every expression may read.
pub const ROOTS: &[Entry] = &[
    (
        "analysis",
        "The AIAnalysis status as a map, fields in camelCase as in the CRD: `analysis.confidence`, `analysis.rootCause`, `analysis.parameters.x`, `analysis.metrics.x`. `analysis.target` is `analysis.targetResource`. A field that is not there reads as `()`.",
    ),
    ("params", "Every param and let by name, as a map."),
    (
        "workflow",
        "The run: `name`, `version`, `namespace` (the WorkflowExecution's), `execution` (its name); in `finally`, also `phase` and `failed`.",
    ),
    (
        "steps",
        "`steps.NAME`: `phase`, `attempts`, `output`, `started_at`, `completed_at` of a step guaranteed done (an ancestor in the step graph).",
    ),
    (
        "self",
        "In a `rollback` block: the step being compensated (`self.output.previous_replicas`).",
    ),
];

/// The fields of `analysis`.
pub const ANALYSIS: &[Entry] = &[
    (
        "phase",
        "The analysis phase: Pending, Investigating, Analyzing, Completed or Failed (a run uses only a Completed analysis).",
    ),
    (
        "recommendedWorkflow",
        "The workflow the analysis recommends: `name`, and `version` (omitted: the newest).",
    ),
    (
        "targetResource",
        "The object to remediate: `kind`, `name`, `namespace`, `apiVersion`.",
    ),
    (
        "target",
        "The same as `targetResource`: `kind`, `name`, `namespace`, `apiVersion`.",
    ),
    ("confidence", "How sure the analysis is, from 0 to 1."),
    (
        "rootCause",
        "The analysis' explanation of the incident, as text.",
    ),
    (
        "parameters",
        "Free-form values; each fills the param of the same name.",
    ),
    (
        "metrics",
        "Free-form observations, e.g. `metrics.memory_limit`, `metrics.restarts`.",
    ),
    (
        "recommendations",
        "Optional, informative: a list of `{ id, action, riskLevel, effectivenessProbability }`.",
    ),
];

/// The fields of `analysis.target` / `analysis.targetResource`.
pub const TARGET: &[Entry] = &[
    ("kind", "The kind of the object, e.g. `Deployment`."),
    ("name", "The object's name."),
    ("namespace", "The object's namespace."),
    ("apiVersion", "The object's API version, e.g. `apps/v1`."),
];

/// The fields of `analysis.recommendedWorkflow`.
pub const RECOMMENDED: &[Entry] = &[
    ("name", "The name of the recommended workflow."),
    ("version", "Its version; omitted means the newest."),
];

/// The fields of `workflow`; the last two only in `finally`.
pub const WORKFLOW: &[Entry] = &[
    ("name", "The template's name."),
    ("version", "The template's version."),
    ("namespace", "The WorkflowExecution's namespace."),
    ("execution", "The WorkflowExecution's name."),
    ("phase", "In `finally` only: the phase the run ends in."),
    ("failed", "In `finally` only: true when the run failed."),
];

/// The fields of `steps.NAME` and `self`.
pub const STEP: &[Entry] = &[
    ("phase", "The step's phase: Succeeded, Failed, Skipped…"),
    ("attempts", "How many attempts the step made."),
    (
        "output",
        "The map the step's action returned (`remedy actions TYPE` lists its keys).",
    ),
    ("started_at", "When the step started."),
    ("completed_at", "When the step ended."),
];

/// The functions scripts have beyond rhai's standard ones.
pub const BUILTINS: &[(&str, &str, &str)] = &[
    (
        "parse_quantity",
        "s",
        "A Kubernetes quantity as an integer: bytes or cores (thousandths for `m`, `u`, `n`); `parse_quantity(s, unit)` counts in `unit`.",
    ),
    (
        "format_quantity",
        "n, unit",
        "`n` formatted in `unit`, rounded up; `format_quantity(n)` uses the largest exact binary suffix.",
    ),
    (
        "seconds",
        "d",
        "A duration string in whole seconds (rounded down).",
    ),
    (
        "clamp",
        "x, lo, hi",
        "`x` bounded to `[lo, hi]`; ints stay ints, any float makes a float.",
    ),
];

/// The items of a workflow, with what they do and a snippet to insert.
pub const WORKFLOW_ITEMS: &[(&str, &str, &str)] = &[
    (
        "description",
        "What the workflow does.",
        "description \"$1\"",
    ),
    ("labels", "Labels of the template.", "labels { $1 }"),
    (
        "timeout",
        "Deadline of the whole run, from Executing to the end of Monitoring (default 30m).",
        "timeout ${1:30m}",
    ),
    (
        "max_parallel",
        "At most N step executions of a run in flight at once (default 5).",
        "max_parallel ${1:5}",
    ),
    (
        "rollback",
        "What a failed run does with completed steps: automatic, manual or none (default automatic).",
        "rollback ${1|automatic,manual,none|}",
    ),
    (
        "approval",
        "The run waits in AwaitingApproval until approved: `required`, or when `${ expr }` is true at Planning.",
        "approval ${1:required}",
    ),
    (
        "import",
        "A rhai file (relative to this file) whose functions are callable as `ALIAS::f(…)`.",
        "import \"$1\" as $2",
    ),
    (
        "param",
        "An input: `param NAME: TYPE (= DEFAULT)? ({ constraints })?`; without a default it is required.",
        "param $1: ${2|string,int,float,bool,duration,list,map,any|}",
    ),
    (
        "let",
        "A derived value, computed once at Planning, in declaration order.",
        "let $1 = $2",
    ),
    (
        "step",
        "A unit of work, run as one KubernetesExecution per attempt.",
        "step $1 {\n  action \"$2\"\n  with { $3 }\n}",
    ),
    (
        "parallel",
        "Steps that run at the same time; the next item waits for all of them.",
        "parallel {\n  step $1 {\n    action \"$2\"\n  }\n}",
    ),
    (
        "verify",
        "Steps that check the remediation worked, after every main step; `within D` bounds them.",
        "verify within ${1:10m} {\n  step $2 {\n    action \"verify_deployment\"\n  }\n}",
    ),
    (
        "finally",
        "Steps that run last, always: after success, failure or rollback.",
        "finally {\n  step $1 {\n    action \"notify_only\"\n    with { message: \"$2\" }\n  }\n}",
    ),
];

/// The items of a step, with what they do and a snippet.
pub const STEP_ITEMS: &[(&str, &str, &str)] = &[
    (
        "action",
        "The action type; `remedy actions` lists them.",
        "action \"$1\"",
    ),
    ("with", "The action's parameters.", "with { $1 }"),
    (
        "timeout",
        "Deadline of one attempt (default 5m).",
        "timeout ${1:5m}",
    ),
    (
        "retry",
        "Up to N more attempts; exponential backoff from D, doubling, capped at max.",
        "retry ${1:3} backoff ${2:10s}",
    ),
    (
        "when",
        "Run the step only when the expression is true; false means Skipped.",
        "when \\${ $1 }",
    ),
    (
        "on_failure",
        "After the last attempt fails: rollback (default), fail, or continue.",
        "on_failure ${1|rollback,fail,continue|}",
    ),
    (
        "rollback",
        "The compensation: runs if the step succeeded and the run rolls back.",
        "rollback {\n  action \"$1\"\n  with { $2 }\n}",
    ),
    ("description", "What the step does.", "description \"$1\""),
];

/// The items of a `rollback { … }` block.
pub const ROLLBACK_ITEMS: &[&str] = &["action", "with", "timeout", "retry"];

/// The constraints of a param.
pub const CONSTRAINTS: &[Entry] = &[
    ("min", "The smallest value allowed (int, float, duration)."),
    ("max", "The largest value allowed (int, float, duration)."),
    ("enum", "The values allowed: `enum [a, b]`."),
    (
        "pattern",
        "A regular expression the whole (string) value must match.",
    ),
    ("description", "What the param is for."),
];

/// The types of a param.
pub const PARAM_TYPES: &[&str] = &[
    "string", "int", "float", "bool", "duration", "list", "map", "any",
];

/// The one-line meaning of an entry in a table, if it has one.
pub fn lookup(table: &[Entry], name: &str) -> Option<&'static str> {
    table.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_in_the_docs() {
        let docs = format!(
            "{}{}",
            include_str!("../../docs/scripting.md"),
            include_str!("../../docs/language.md")
        );
        for (name, _) in ANALYSIS {
            assert!(
                docs.contains(&format!("analysis.{name}")),
                "analysis.{name} is not in docs/scripting.md"
            );
        }
        for (name, _) in WORKFLOW.iter().chain(STEP).chain(ROOTS) {
            assert!(
                docs.contains(&format!("`{name}`")),
                "{name} is not in docs/scripting.md"
            );
        }
        for (name, _, _) in BUILTINS {
            assert!(docs.contains(name), "{name} is not in docs/scripting.md");
        }
    }
}
