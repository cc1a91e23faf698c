//! `remedy actions [NAME]`: list the action catalog, or show one action in full.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::table::{self, Layout};
use crate::catalog::actions::closest;
use crate::catalog::{ActionCatalog, ActionSpec};

/// How `remedy actions` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActionsFormat {
    /// A table (or, for one action, a description).
    Human,
    /// JSON.
    Json,
}

/// Arguments of `remedy actions`.
#[derive(Debug, Args)]
pub struct ActionsArgs {
    /// Show this action in full instead of listing all.
    pub name: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ActionsFormat::Human)]
    pub format: ActionsFormat,
}

/// Run `remedy actions`: 0, or 2 for an unknown action name.
pub fn run(args: &ActionsArgs) -> ExitCode {
    let catalog = ActionCatalog::builtin();
    let text = match &args.name {
        None => match args.format {
            ActionsFormat::Human => table(&catalog),
            ActionsFormat::Json => pretty(&Value::Array(catalog.iter().map(to_json).collect())),
        },
        Some(name) => {
            let Some(spec) = catalog.get(name) else {
                let mut msg = format!("error: there is no action `{name}`");
                if let Some(s) = closest(name, catalog.names()) {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                } else {
                    msg.push_str("; run `remedy actions` to list them");
                }
                let _ = writeln!(std::io::stderr().lock(), "{msg}");
                return ExitCode::from(2);
            };
            match args.format {
                ActionsFormat::Human => describe(spec),
                ActionsFormat::Json => pretty(&to_json(spec)),
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    ExitCode::SUCCESS
}

fn pretty(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

/// The catalog as a three-column table.
pub fn table(catalog: &ActionCatalog) -> String {
    let rows: Vec<Vec<String>> = catalog
        .iter()
        .map(|a| {
            vec![
                a.name.to_string(),
                a.effect.as_str().to_string(),
                a.summary.to_string(),
            ]
        })
        .collect();
    let mut out = String::new();
    table::write(
        &mut out,
        Layout::LISTING,
        &["NAME", "EFFECT", "SUMMARY"],
        &rows,
    );
    out
}

/// One action in full.
pub fn describe(a: &ActionSpec) -> String {
    let mut out = format!("{}\n  {}\n\n", a.name, a.summary);
    out.push_str(&format!("effect:       {}\n", a.effect));
    out.push_str(&format!("target kind:  {}\n", a.target_kind));
    let comp = if a.compensation.is_empty() {
        "none (nothing undoes it)"
    } else {
        a.compensation
    };
    out.push_str(&format!("compensation: {comp}\n\nparameters:\n"));
    let w = a.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for p in &a.params {
        let need = if p.required { "required" } else { "optional" };
        out.push_str(&format!(
            "  {:<w$}  {:<8}  {need}  {}",
            p.name,
            p.kind.as_str(),
            p.doc
        ));
        if !p.allowed.is_empty() {
            out.push_str(&format!(" (one of: {})", p.allowed.join(", ")));
        }
        out.push('\n');
    }
    out.push_str("\noutputs:\n");
    if a.outputs.is_empty() {
        out.push_str("  none\n");
    }
    let w = a.outputs.iter().map(|o| o.name.len()).max().unwrap_or(0);
    for o in &a.outputs {
        out.push_str(&format!("  {:<w$}  {}\n", o.name, o.doc));
    }
    out
}

/// One action as JSON.
pub fn to_json(a: &ActionSpec) -> Value {
    json!({
        "name": a.name,
        "summary": a.summary,
        "effect": a.effect.as_str(),
        "target_kind": a.target_kind,
        "parameters": a.params.iter().map(|p| json!({
            "name": p.name,
            "type": p.kind.as_str(),
            "required": p.required,
            "allowed": p.allowed,
            "doc": p.doc,
        })).collect::<Vec<_>>(),
        "outputs": a.outputs.iter().map(|o| json!({ "name": o.name, "doc": o.doc })).collect::<Vec<_>>(),
        "compensation": a.compensation,
    })
}
