//! Label selectors and field selectors, parsed from query strings and matched against objects.

use serde_json::Value;

use super::error::ApiError;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

/// A label value: empty, or at most 63 alphanumerics, `-`, `_` and `.`, alphanumeric at both
/// ends.
fn valid_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

fn set_values(rest: &str) -> Option<Vec<String>> {
    let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

impl LabelSelector {
    /// The first `key=value` requirement, if any: every match carries that label.
    pub fn equality(&self) -> Option<(&str, &str)> {
        self.0.iter().find_map(|r| match r {
            LabelReq::Eq(k, v) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }

    /// Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let bad = |m: &str| ApiError::bad_request(format!("unable to parse requirement: {m}"));
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector(reqs));
        }
        for part in split_top(s) {
            let p = part.trim();
            if p.is_empty() {
                // `a,,b` and `a,`: kube-apiserver's parser wants a requirement after a comma.
                return Err(bad(
                    "found ',', expected: !, identifier, or 'end of string'",
                ));
            }
            let req = if let Some(k) = p.strip_prefix('!') {
                LabelReq::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = p.split_once("!=") {
                LabelReq::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once("==") {
                LabelReq::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once('=') {
                LabelReq::Eq(k.trim().into(), v.trim().into())
            } else if let Some(idx) = p.find(" notin ") {
                let vals = set_values(&p[idx + 7..]).ok_or_else(|| bad(p))?;
                LabelReq::NotIn(p[..idx].trim().into(), vals)
            } else if let Some(idx) = p.find(" in ") {
                let vals = set_values(&p[idx + 4..]).ok_or_else(|| bad(p))?;
                LabelReq::In(p[..idx].trim().into(), vals)
            } else {
                LabelReq::Exists(p.to_string())
            };
            let key = match &req {
                LabelReq::Eq(k, _)
                | LabelReq::NotEq(k, _)
                | LabelReq::In(k, _)
                | LabelReq::NotIn(k, _)
                | LabelReq::Exists(k)
                | LabelReq::NotExists(k) => k,
            };
            if !valid_key(key) {
                return Err(bad(p));
            }
            let values: &[String] = match &req {
                LabelReq::Eq(_, v) | LabelReq::NotEq(_, v) => std::slice::from_ref(v),
                LabelReq::In(_, vs) | LabelReq::NotIn(_, vs) => vs,
                _ => &[],
            };
            if let Some(v) = values.iter().find(|v| !valid_value(v)) {
                // `a=b=c`: the value ends at the first character a label value cannot have.
                return Err(bad(&format!("invalid label value: {v:?}")));
            }
            if matches!(&req, LabelReq::In(_, vs) | LabelReq::NotIn(_, vs) if vs.is_empty()) {
                return Err(bad(&format!(
                    "{p}: for 'in', 'notin' operators, values set can't be empty"
                )));
            }
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    /// Builds a selector from a `LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_object(sel: &Value) -> Self {
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(LabelReq::Eq(
                    k.clone(),
                    v.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        for e in sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = e
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            match e.get("operator").and_then(Value::as_str) {
                Some("In") => reqs.push(LabelReq::In(key, values)),
                Some("NotIn") => reqs.push(LabelReq::NotIn(key, values)),
                Some("Exists") => reqs.push(LabelReq::Exists(key)),
                Some("DoesNotExist") => reqs.push(LabelReq::NotExists(key)),
                _ => {}
            }
        }
        LabelSelector(reqs)
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector: `field=value` and `field!=value` terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// What selectors can see of an object: its name, namespace and labels, and the fields its
/// kind supports in field selectors. The event window keeps this of an object's previous
/// version (to tell when a change moves it out of a watch's selection) instead of the whole
/// previous object.
pub fn selector_view(obj: &Value) -> Value {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let fields = ["metadata.name", "metadata.namespace", "metadata.labels"];
    let mut view = Value::Object(Default::default());
    for field in fields.iter().chain(kind_fields(kind)) {
        let Some(x) = obj.pointer(&format!("/{}", field.replace('.', "/"))) else {
            continue;
        };
        let mut at = &mut view;
        let mut parts = field.split('.').peekable();
        while let Some(part) = parts.next() {
            let Some(m) = at.as_object_mut() else { break };
            if parts.peek().is_none() {
                m.insert(part.into(), x.clone());
                break;
            }
            at = m
                .entry(part)
                .or_insert_with(|| Value::Object(Default::default()));
        }
    }
    view
}

/// The fields a kind supports in field selectors, beyond metadata.name and metadata.namespace.
fn kind_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
        ],
        "Node" => &["spec.unschedulable"],
        "Namespace" => &["status.phase"],
        "Secret" => &["type"],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
        ],
        "ReplicaSet" | "ReplicationController" => &["status.replicas"],
        _ => &[],
    }
}

impl FieldSelector {
    /// Parses a field selector, checking the fields are supported for `kind`.
    pub fn parse(s: &str, kind: &str, custom: bool) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for part in s.split(',') {
            let p = part.trim();
            if p.is_empty() {
                continue;
            }
            let (field, neg, value) = if let Some((f, v)) = p.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = p.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = p.split_once('=') {
                (f, false, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{p}'"
                )));
            };
            let mut field = field.trim().to_string();
            if kind == "Event" {
                // Both Event APIs select on the stored (core v1) fields.
                if let Some(rest) = field.strip_prefix("regarding.") {
                    field = format!("involvedObject.{rest}");
                } else if field == "reportingController" {
                    field = "reportingComponent".into();
                }
            }
            let field = field.as_str();
            let supported = matches!(field, "metadata.name" | "metadata.namespace")
                || (!custom && kind_fields(kind).contains(&field));
            if !supported {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            terms.push((field.to_string(), neg, value.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The exact `metadata.name` this selector requires, if any (watch of one object).
    pub fn name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, neg, _)| f == "metadata.name" && !neg)
            .map(|(_, _, v)| v.as_str())
    }

    /// Whether an object satisfies every term.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, neg, want)| {
            let value = field_value(obj, field);
            (value == *want) != *neg
        })
    }
}

/// The string value of a selectable field (missing fields read as "", booleans as "true"/"false").
fn field_value(obj: &Value, field: &str) -> String {
    if field == "source" {
        return field_value(obj, "source.component");
    }
    let mut cur = obj;
    for seg in field.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => {
                return if field == "spec.unschedulable" {
                    "false".into()
                } else {
                    String::new()
                };
            }
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_selector_view_keeps_what_selectors_read_and_nothing_else() {
        let pod = json!({
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "shop", "labels": {"app": "web"},
                         "annotations": {"big": "x"}, "uid": "u"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "conditions": []}
        });
        let view = selector_view(&pod);
        assert_eq!(
            view,
            json!({
                "metadata": {"name": "p", "namespace": "shop", "labels": {"app": "web"}},
                "spec": {"nodeName": "n1"},
                "status": {"phase": "Running"}
            })
        );
        for selector in [
            "spec.nodeName=n1",
            "status.phase!=Pending",
            "metadata.name=p",
        ] {
            let sel = FieldSelector::parse(selector, "Pod", false).unwrap();
            assert_eq!(sel.matches(&view), sel.matches(&pod), "{selector}");
        }
        let by_label = LabelSelector::parse("app=web").unwrap();
        assert!(by_label.matches(&view));
    }

    fn labels(l: Value) -> Value {
        json!({"metadata": {"labels": l}})
    }

    #[test]
    fn label_selector_operators() {
        let o = labels(json!({"app": "web", "tier": "front"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&o);
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("app in (web, db)"));
        assert!(!m("app notin (web)"));
        assert!(m("missing notin (x)"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(!m("missing"));
        assert!(m("tier in (front),app"));
    }

    #[test]
    fn field_selector_rejects_unknown_fields() {
        assert!(FieldSelector::parse("spec.nodeName=n1", "Pod", false).is_ok());
        let e = FieldSelector::parse("spec.nodeName=n1", "ConfigMap", false).unwrap_err();
        assert_eq!(e.code, 400);
        let f = FieldSelector::parse("status.phase!=Running", "Pod", false).unwrap();
        assert!(f.matches(&json!({"status": {"phase": "Pending"}})));
        assert!(!f.matches(&json!({"status": {"phase": "Running"}})));
    }
}
