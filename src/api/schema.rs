//! Schema helpers for free-form fields, which Kubernetes needs marked
//! `x-kubernetes-preserve-unknown-fields`.

use schemars::{Schema, SchemaGenerator, json_schema};

/// An object whose fields are free-form (kept as given by the API server).
pub fn free_form_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Any JSON value, kept as given.
pub fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-preserve-unknown-fields": true,
    })
}
