//! Content negotiation of responses: which rendering of an object (the object itself, a
//! `meta.k8s.io` Table, or `PartialObjectMetadata`) and which discovery document the `Accept`
//! header asks for. Every answer is JSON; the media ranges are read for their `as`, `g` and
//! `v` parameters, in order, and the first one the server can serve wins.

use serde_json::{Value, json};

use super::error::ApiError;

/// How the objects of a response are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    /// The objects themselves.
    Object,
    /// A `meta.k8s.io` Table (kubectl's get).
    Table,
    /// `meta.k8s.io/<version>` PartialObjectMetadata (and `…List` for lists).
    Metadata(&'static str),
}

/// One media range of an `Accept` header: its type and its `as`, `g` and `v` parameters.
struct Range<'a> {
    as_: Option<&'a str>,
    group: Option<&'a str>,
    version: Option<&'a str>,
}

fn ranges(accept: &str) -> impl Iterator<Item = Range<'_>> {
    accept
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            let mut range = Range {
                as_: None,
                group: None,
                version: None,
            };
            for param in r.split(';').skip(1) {
                let (k, v) = param.split_once('=').unwrap_or((param, ""));
                let v = v.trim().trim_matches('"');
                match k.trim() {
                    "as" => range.as_ = Some(v),
                    "g" => range.group = Some(v),
                    "v" => range.version = Some(v),
                    _ => {}
                }
            }
            range
        })
}

fn meta_version(range: &Range<'_>) -> Option<&'static str> {
    if range.group != Some("meta.k8s.io") {
        return None;
    }
    match range.version {
        Some("v1") => Some("v1"),
        Some("v1beta1") => Some("v1beta1"),
        _ => None,
    }
}

/// The rendering an `Accept` header asks for; `list` for a LIST (a `…List` form is asked for
/// then). A header none of whose ranges can be served is 406 Not Acceptable, as in Kubernetes.
pub fn rendering(accept: &str, list: bool) -> Result<Rendering, ApiError> {
    let mut any = false;
    for range in ranges(accept) {
        any = true;
        let found = match range.as_ {
            None => Some(Rendering::Object),
            Some("Table") => meta_version(&range).map(|_| Rendering::Table),
            Some("PartialObjectMetadata") if !list => meta_version(&range).map(Rendering::Metadata),
            Some("PartialObjectMetadataList") if list => {
                meta_version(&range).map(Rendering::Metadata)
            }
            Some(_) => None,
        };
        if let Some(r) = found {
            return Ok(r);
        }
    }
    if any {
        Err(ApiError::not_acceptable())
    } else {
        Ok(Rendering::Object)
    }
}

/// The media type of the aggregated discovery document an `Accept` header asks for
/// (`apidiscovery.k8s.io` v2 or v2beta1), if any range before a plain one asks for it.
pub fn aggregated_discovery(accept: &str) -> Option<&'static str> {
    for range in ranges(accept) {
        match (range.as_, range.group, range.version) {
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2")) => {
                return Some("v2");
            }
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2beta1")) => {
                return Some("v2beta1");
            }
            (None, _, _) => return None,
            _ => {}
        }
    }
    None
}

/// An object as `meta.k8s.io` PartialObjectMetadata: its metadata only.
pub fn partial(obj: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A list as `meta.k8s.io` PartialObjectMetadataList: the list's metadata and each item's.
pub fn partial_list(list: &Value, version: &str) -> Value {
    let items: Vec<Value> = list
        .get("items")
        .and_then(Value::as_array)
        .map(|items| items.iter().map(|o| partial(o, version)).collect())
        .unwrap_or_default();
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": list.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_servable_range_wins() {
        let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
        assert_eq!(rendering(table, true).ok(), Some(Rendering::Table));
        let meta = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
        assert_eq!(rendering(meta, false).ok(), Some(Rendering::Metadata("v1")));
        // A list asked for as single objects cannot be served: 406.
        assert_eq!(rendering(meta, true).map_err(|e| e.code).err(), Some(406));
        let meta_list = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1";
        assert_eq!(
            rendering(meta_list, true).ok(),
            Some(Rendering::Metadata("v1beta1"))
        );
        assert_eq!(
            rendering("application/json;as=Foo;g=x;v=v1, application/json", false).ok(),
            Some(Rendering::Object)
        );
        assert_eq!(rendering("", false).ok(), Some(Rendering::Object));
        assert_eq!(
            rendering("application/json;as=Table;g=meta.k8s.io;v=v9", false)
                .map_err(|e| e.code)
                .err(),
            Some(406)
        );
    }

    #[test]
    fn aggregated_discovery_is_served_only_when_asked_for_first() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_discovery(kubectl), Some("v2"));
        assert_eq!(
            aggregated_discovery(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            ),
            Some("v2beta1")
        );
        assert_eq!(aggregated_discovery("application/json, */*"), None);
        assert_eq!(aggregated_discovery(""), None);
    }
}
