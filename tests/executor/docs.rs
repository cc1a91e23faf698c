//! docs/actions.md documents every catalog action with all its parameters and outputs.

use remedy::catalog::ActionCatalog;

#[test]
fn every_action_param_and_output_is_documented() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/actions.md")).unwrap();
    let catalog = ActionCatalog::builtin();
    let sections: Vec<&str> = text.split("\n## ").collect();
    for action in catalog.iter() {
        let heading = format!("`{}`\n", action.name);
        let section = sections
            .iter()
            .find(|s| s.starts_with(&heading))
            .unwrap_or_else(|| panic!("docs/actions.md has no section for {}", action.name));
        for param in &action.params {
            let row = format!(
                "| `{}` | {} | {} |",
                param.name,
                param.kind,
                if param.required { "yes" } else { "no" }
            );
            assert!(section.contains(&row), "{}: no row {row}", action.name);
        }
        for output in &action.outputs {
            assert!(
                section.contains(&format!("`{}`", output.name)),
                "{}: output {} undocumented",
                action.name,
                output.name
            );
        }
    }
    let documented = sections.iter().filter(|s| s.starts_with('`')).count();
    assert_eq!(
        documented,
        catalog.iter().count(),
        "a section for an action the catalog lacks"
    );
}
