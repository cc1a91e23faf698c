//! Kind-specific rules of built-in kinds: defaults, validation, initial status, generation.

use serde_json::{Value, json};

use super::error::{FieldCause, cause};
use super::registry::ResourceType;

/// Whether the kind tracks `metadata.generation` (spec/status kinds and custom resources).
pub fn tracks_generation(rt: &ResourceType) -> bool {
    rt.custom
        || matches!(
            rt.kind.as_str(),
            "Deployment"
                | "ReplicaSet"
                | "StatefulSet"
                | "DaemonSet"
                | "Job"
                | "CronJob"
                | "NetworkPolicy"
                | "HorizontalPodAutoscaler"
                | "PodDisruptionBudget"
                | "Pod"
                | "CustomResourceDefinition"
        )
}

fn set_default(obj: &mut Value, pointer: &str, value: Value) {
    if obj.pointer(pointer).is_some() {
        return;
    }
    let mut cur = obj;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert(p.to_string(), value);
            return;
        }
        cur = map.entry(p.to_string()).or_insert_with(|| json!({}));
    }
}

/// Fills the defaults the real API server sets for a built-in kind.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value) {
    if rt.custom {
        return;
    }
    match rt.kind.as_str() {
        "Deployment" => {
            set_default(obj, "/spec/replicas", json!(1));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            set_default(obj, "/spec/progressDeadlineSeconds", json!(600));
            set_default(obj, "/spec/strategy/type", json!("RollingUpdate"));
            if obj.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
                set_default(obj, "/spec/strategy/rollingUpdate/maxSurge", json!("25%"));
                set_default(
                    obj,
                    "/spec/strategy/rollingUpdate/maxUnavailable",
                    json!("25%"),
                );
            }
            pod_template_defaults(obj, "/spec/template/spec");
        }
        "ReplicaSet" => {
            set_default(obj, "/spec/replicas", json!(1));
            pod_template_defaults(obj, "/spec/template/spec");
        }
        "StatefulSet" => {
            set_default(obj, "/spec/replicas", json!(1));
            set_default(obj, "/spec/podManagementPolicy", json!("OrderedReady"));
            set_default(obj, "/spec/updateStrategy/type", json!("RollingUpdate"));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            pod_template_defaults(obj, "/spec/template/spec");
        }
        "DaemonSet" => {
            set_default(obj, "/spec/updateStrategy/type", json!("RollingUpdate"));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            pod_template_defaults(obj, "/spec/template/spec");
        }
        "Pod" => pod_template_defaults(obj, "/spec"),
        "Secret"
            if obj
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty) =>
        {
            if let Some(m) = obj.as_object_mut() {
                m.insert("type".into(), json!("Opaque"));
            }
        }
        "PersistentVolumeClaim" => set_default(obj, "/spec/volumeMode", json!("Filesystem")),
        "Namespace" => set_default(obj, "/spec/finalizers", json!(["kubernetes"])),
        "HorizontalPodAutoscaler" => set_default(obj, "/spec/minReplicas", json!(1)),
        "Service" => service_defaults(obj),
        "CronJob" => {
            set_default(obj, "/spec/concurrencyPolicy", json!("Allow"));
            set_default(obj, "/spec/suspend", json!(false));
            set_default(obj, "/spec/successfulJobsHistoryLimit", json!(3));
            set_default(obj, "/spec/failedJobsHistoryLimit", json!(1));
            job_template_defaults(obj, "/spec/jobTemplate/spec");
        }
        "NetworkPolicy" => network_policy_defaults(obj),
        "Job" => {
            if obj.pointer("/spec/completions").is_none()
                && obj.pointer("/spec/parallelism").is_none()
            {
                set_default(obj, "/spec/completions", json!(1));
            }
            set_default(obj, "/spec/parallelism", json!(1));
            set_default(obj, "/spec/backoffLimit", json!(6));
            set_default(obj, "/spec/completionMode", json!("NonIndexed"));
            set_default(obj, "/spec/suspend", json!(false));
            if obj.pointer("/spec/podFailurePolicy").is_none() {
                set_default(
                    obj,
                    "/spec/podReplacementPolicy",
                    json!("TerminatingOrFailed"),
                );
            }
            pod_template_defaults(obj, "/spec/template/spec");
        }
        _ => {}
    }
}

/// A CronJob's job template's defaults (its pod's restartPolicy has none: it must be given).
fn job_template_defaults(obj: &mut Value, spec: &str) {
    if obj.pointer(spec).is_none() {
        return;
    }
    set_default(obj, &format!("{spec}/backoffLimit"), json!(6));
    set_default(obj, &format!("{spec}/completionMode"), json!("NonIndexed"));
    set_default(obj, &format!("{spec}/suspend"), json!(false));
    if obj.pointer(&format!("{spec}/completions")).is_none()
        && obj.pointer(&format!("{spec}/parallelism")).is_none()
    {
        set_default(obj, &format!("{spec}/completions"), json!(1));
    }
    set_default(obj, &format!("{spec}/parallelism"), json!(1));
    let template = format!("{spec}/template/spec");
    if obj.pointer(&template).is_some() {
        set_default(obj, &format!("{template}/dnsPolicy"), json!("ClusterFirst"));
        set_default(
            obj,
            &format!("{template}/schedulerName"),
            json!("default-scheduler"),
        );
        set_default(
            obj,
            &format!("{template}/terminationGracePeriodSeconds"),
            json!(30),
        );
    }
}

/// policyTypes as the API server fills them: Ingress always, Egress when egress rules exist.
fn network_policy_defaults(obj: &mut Value) {
    if obj.pointer("/spec/policyTypes").is_some() || obj.get("spec").is_none() {
        return;
    }
    let mut types = vec![json!("Ingress")];
    if obj.pointer("/spec/egress").is_some_and(|e| !e.is_null()) {
        types.push(json!("Egress"));
    }
    set_default(obj, "/spec/policyTypes", Value::Array(types));
}

fn service_defaults(obj: &mut Value) {
    set_default(obj, "/spec/type", json!("ClusterIP"));
    set_default(obj, "/spec/sessionAffinity", json!("None"));
    let kind = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if kind != "ExternalName" {
        set_default(obj, "/spec/internalTrafficPolicy", json!("Cluster"));
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        set_default(obj, "/spec/externalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        set_default(obj, "/spec/allocateLoadBalancerNodePorts", json!(true));
    }
    if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, "/protocol", json!("TCP"));
            // A zero targetPort (what a protobuf body carries when none was set) is unset.
            let unset = matches!(p.get("targetPort"), None | Some(Value::Null))
                || p.get("targetPort") == Some(&json!(0))
                || p.get("targetPort") == Some(&json!(""));
            if unset && let (Some(port), Some(m)) = (p.get("port").cloned(), p.as_object_mut()) {
                m.insert("targetPort".into(), port);
            }
        }
    }
}

/// The selector and pod labels kube-apiserver generates for a Job whose `manualSelector` is
/// not set: `batch.kubernetes.io/controller-uid` and the Job's name.
pub fn job_selector(obj: &mut Value, uid: &str) {
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true)
        || obj.pointer("/spec/selector").is_some()
    {
        return;
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    set_default(
        obj,
        "/spec/selector",
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
    );
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name.as_str()),
        ("controller-uid", uid),
        ("job-name", name.as_str()),
    ] {
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
            return;
        };
        let labels = spec
            .entry("template")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|t| t.entry("metadata").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
            .map(|m| m.entry("labels").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut);
        if let Some(labels) = labels {
            labels.insert(k.to_string(), json!(v));
        }
    }
}

fn pod_template_defaults(obj: &mut Value, spec: &str) {
    if obj.pointer(spec).is_none() {
        return;
    }
    set_default(obj, &format!("{spec}/restartPolicy"), json!("Always"));
    set_default(obj, &format!("{spec}/dnsPolicy"), json!("ClusterFirst"));
    set_default(
        obj,
        &format!("{spec}/schedulerName"),
        json!("default-scheduler"),
    );
    set_default(
        obj,
        &format!("{spec}/terminationGracePeriodSeconds"),
        json!(30),
    );
    for field in ["containers", "initContainers", "ephemeralContainers"] {
        container_defaults(obj, &format!("{spec}/{field}"));
    }
}

fn container_defaults(obj: &mut Value, pointer: &str) {
    if let Some(containers) = obj.pointer_mut(pointer).and_then(Value::as_array_mut) {
        for c in containers {
            let latest = c.get("image").and_then(Value::as_str).is_some_and(|i| {
                i.ends_with(":latest") || !i.rsplit('/').next().unwrap_or(i).contains([':', '@'])
            });
            let policy = if latest { "Always" } else { "IfNotPresent" };
            set_default(c, "/imagePullPolicy", json!(policy));
            set_default(c, "/terminationMessagePath", json!("/dev/termination-log"));
            set_default(c, "/terminationMessagePolicy", json!("File"));
            if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    set_default(p, "/protocol", json!("TCP"));
                }
            }
        }
    }
}

fn containers_valid(obj: &Value, spec: &str, causes: &mut Vec<FieldCause>) {
    let field = format!(
        "{}.containers",
        spec.trim_start_matches('/').replace('/', ".")
    );
    match obj
        .pointer(&format!("{spec}/containers"))
        .and_then(Value::as_array)
    {
        Some(cs) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                if c.get("name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push(cause(
                        "FieldValueRequired",
                        &format!("{field}[{i}].name"),
                        "Required value",
                    ));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push(cause(
                        "FieldValueRequired",
                        &format!("{field}[{i}].image"),
                        "Required value",
                    ));
                }
            }
        }
        _ => causes.push(cause("FieldValueRequired", &field, "Required value")),
    }
}

fn workload_valid(obj: &Value, causes: &mut Vec<FieldCause>) {
    let Some(selector) = obj.pointer("/spec/selector") else {
        causes.push(cause(
            "FieldValueRequired",
            "spec.selector",
            "Required value",
        ));
        return;
    };
    containers_valid(obj, "/spec/template/spec", causes);
    let sel = super::selector::LabelSelector::from_object(selector);
    if sel.is_empty() {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.selector",
            "Invalid value: empty selector is invalid for deployment",
        ));
    }
    let template = json!({"metadata": {"labels": obj.pointer("/spec/template/metadata/labels").cloned().unwrap_or(json!({}))}});
    if !sel.matches(&template) {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.template.metadata.labels",
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                template["metadata"]["labels"]
            ),
        ));
    }
    if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
        && r < 0
    {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.replicas",
            format!("Invalid value: {r}: must be greater than or equal to 0"),
        ));
    }
}

/// What the server sets on a new built-in object before validating it: a Job's generated
/// selector, the requester of a CertificateSigningRequest (this server authenticates no one,
/// so it is the anonymous user, as kube-apiserver's anonymous authentication names it).
pub fn prepare_create(rt: &ResourceType, obj: &mut Value, uid: &str) {
    if rt.custom {
        return;
    }
    match rt.kind.as_str() {
        "Job" => job_selector(obj, uid),
        "CertificateSigningRequest" => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("username".into(), json!("system:anonymous"));
                spec.insert("groups".into(), json!(["system:unauthenticated"]));
                spec.remove("uid");
                spec.remove("extra");
            }
        }
        _ => {}
    }
}

fn ephemeral_valid(obj: &Value, causes: &mut Vec<FieldCause>) {
    let Some(list) = obj
        .pointer("/spec/ephemeralContainers")
        .and_then(Value::as_array)
    else {
        return;
    };
    let mut names: Vec<&str> = ["containers", "initContainers"]
        .iter()
        .filter_map(|f| obj.pointer(&format!("/spec/{f}")).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let regular = names.clone();
    for (i, c) in list.iter().enumerate() {
        let field = format!("spec.ephemeralContainers[{i}]");
        match c
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            None => causes.push(cause(
                "FieldValueRequired",
                &format!("{field}.name"),
                "Required value",
            )),
            Some(n) if names.contains(&n) => causes.push(cause(
                "FieldValueDuplicate",
                &format!("{field}.name"),
                format!("Duplicate value: \"{n}\""),
            )),
            Some(n) => names.push(n),
        }
        if c.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.push(cause(
                "FieldValueRequired",
                &format!("{field}.image"),
                "Required value",
            ));
        }
        if let Some(target) = c.get("targetContainerName").and_then(Value::as_str)
            && !regular.contains(&target)
        {
            causes.push(cause(
                "FieldValueNotFound",
                &format!("{field}.targetContainerName"),
                format!("Not found: \"{target}\""),
            ));
        }
    }
}

fn service_valid(obj: &Value, causes: &mut Vec<FieldCause>) {
    let kind = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !matches!(
        kind,
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        causes.push(cause(
            "FieldValueNotSupported",
            "spec.type",
            format!("Unsupported value: \"{kind}\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""),
        ));
        return;
    }
    if kind == "ExternalName" {
        if obj
            .pointer("/spec/externalName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.push(cause(
                "FieldValueRequired",
                "spec.externalName",
                "Required value",
            ));
        }
        return;
    }
    let headless = obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    let ports = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ports.is_empty() && !headless {
        causes.push(cause("FieldValueRequired", "spec.ports", "Required value"));
    }
    let mut seen = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let field = format!("spec.ports[{i}]");
        match p
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            None if ports.len() > 1 => causes.push(cause(
                "FieldValueRequired",
                &format!("{field}.name"),
                "Required value",
            )),
            Some(n) if seen.contains(&n) => causes.push(cause(
                "FieldValueDuplicate",
                &format!("{field}.name"),
                format!("Duplicate value: \"{n}\""),
            )),
            Some(n) => seen.push(n),
            None => {}
        }
        match p.get("port").and_then(Value::as_i64) {
            Some(port) if (1..=65535).contains(&port) => {}
            Some(port) => causes.push(cause(
                "FieldValueInvalid",
                &format!("{field}.port"),
                format!("Invalid value: {port}: must be between 1 and 65535, inclusive"),
            )),
            None => causes.push(cause(
                "FieldValueRequired",
                &format!("{field}.port"),
                "Required value",
            )),
        }
        let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        if !matches!(protocol, "TCP" | "UDP" | "SCTP") {
            causes.push(cause(
                "FieldValueNotSupported",
                &format!("{field}.protocol"),
                format!("Unsupported value: \"{protocol}\": supported values: \"SCTP\", \"TCP\", \"UDP\""),
            ));
        }
    }
}

fn job_valid(obj: &Value, causes: &mut Vec<FieldCause>) {
    let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
    let generated = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(|m| m.get("batch.kubernetes.io/controller-uid"))
        .is_some();
    if !manual && !generated && obj.pointer("/spec/selector").is_some() {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.selector",
            format!(
                "Invalid value: {}: `selector` not auto-generated",
                obj.pointer("/spec/selector").cloned().unwrap_or_default()
            ),
        ));
    }
    workload_valid(obj, causes);
    let policy = obj
        .pointer("/spec/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(policy, "OnFailure" | "Never") {
        causes.push(cause(
            "FieldValueNotSupported",
            "spec.template.spec.restartPolicy",
            format!("Unsupported value: \"{policy}\": supported values: \"OnFailure\", \"Never\""),
        ));
    }
    for field in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
    ] {
        if let Some(n) = obj
            .pointer(&format!("/spec/{field}"))
            .and_then(Value::as_i64)
            && n < 0
        {
            causes.push(cause(
                "FieldValueInvalid",
                &format!("spec.{field}"),
                format!("Invalid value: {n}: must be greater than or equal to 0"),
            ));
        }
    }
}

/// A CronJob's job template: containers, and a restartPolicy of OnFailure or Never.
fn job_template_valid(obj: &Value, spec: &str, causes: &mut Vec<FieldCause>) {
    let template = format!("{spec}/template/spec");
    containers_valid(obj, &template, causes);
    let policy = obj
        .pointer(&format!("{template}/restartPolicy"))
        .and_then(Value::as_str);
    if !matches!(policy, Some("OnFailure" | "Never")) {
        let field = format!(
            "{}.restartPolicy",
            template.trim_start_matches('/').replace('/', ".")
        );
        let shown = policy.map_or("\"\"".to_string(), |p| format!("{p:?}"));
        causes.push(cause(
            "FieldValueNotSupported",
            &field,
            format!("Unsupported value: {shown}: supported values: \"OnFailure\", \"Never\""),
        ));
    }
}

/// A CronJob: a schedule that parses, a name short enough for its Jobs' names, a Job spec.
fn cronjob_valid(obj: &Value, causes: &mut Vec<FieldCause>) {
    match obj.pointer("/spec/schedule").and_then(Value::as_str) {
        None | Some("") => causes.push(cause(
            "FieldValueRequired",
            "spec.schedule",
            "Required value",
        )),
        Some(schedule) => {
            if let Err(e) = super::cron::Schedule::parse(schedule) {
                causes.push(cause(
                    "FieldValueInvalid",
                    "spec.schedule",
                    format!("Invalid value: {schedule:?}: {e}"),
                ));
            }
        }
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.len() > 52 {
        causes.push(cause(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: {name:?}: must be no more than 52 characters"),
        ));
    }
    if let Some(policy) = obj
        .pointer("/spec/concurrencyPolicy")
        .and_then(Value::as_str)
        && !matches!(policy, "Allow" | "Forbid" | "Replace")
    {
        causes.push(cause(
            "FieldValueNotSupported",
            "spec.concurrencyPolicy",
            format!(
                "Unsupported value: {policy:?}: supported values: \"Allow\", \"Forbid\", \"Replace\""
            ),
        ));
    }
    job_template_valid(obj, "/spec/jobTemplate/spec", causes);
}

/// A NetworkPolicy: a pod selector, and policy types of Ingress or Egress.
fn network_policy_valid(obj: &Value, causes: &mut Vec<FieldCause>) {
    if !obj
        .pointer("/spec/podSelector")
        .is_some_and(Value::is_object)
    {
        causes.push(cause(
            "FieldValueRequired",
            "spec.podSelector",
            "Required value",
        ));
    }
    if let Some(types) = obj.pointer("/spec/policyTypes").and_then(Value::as_array) {
        for (i, t) in types.iter().enumerate() {
            if !matches!(t.as_str(), Some("Ingress" | "Egress")) {
                causes.push(cause(
                    "FieldValueNotSupported",
                    &format!("spec.policyTypes[{i}]"),
                    format!("Unsupported value: {t}: supported values: \"Ingress\", \"Egress\""),
                ));
            }
        }
    }
}

fn csr_valid(obj: &Value, causes: &mut Vec<FieldCause>) {
    use base64::Engine;
    match obj.pointer("/spec/request").and_then(Value::as_str) {
        None | Some("") => causes.push(cause(
            "FieldValueRequired",
            "spec.request",
            "Required value",
        )),
        Some(req) => {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(req)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            if !pem.is_some_and(|p| p.contains("-----BEGIN CERTIFICATE REQUEST-----")) {
                causes.push(cause(
                    "FieldValueInvalid",
                    "spec.request",
                    "Invalid value: []byte{...}: PEM block type must be CERTIFICATE REQUEST",
                ));
            }
        }
    }
    if obj
        .pointer("/spec/signerName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        causes.push(cause(
            "FieldValueRequired",
            "spec.signerName",
            "Required value",
        ));
    }
    if obj
        .pointer("/spec/usages")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        causes.push(cause("FieldValueRequired", "spec.usages", "Required value"));
    }
    if let Some(e) = obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        && e < 600
    {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.expirationSeconds",
            format!(
                "Invalid value: {e}: may not specify a duration less than 600 seconds (10 minutes)"
            ),
        ));
    }
    let types: Vec<&str> = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("type").and_then(Value::as_str))
        .collect();
    if types.contains(&"Approved") && types.contains(&"Denied") {
        causes.push(cause(
            "FieldValueInvalid",
            "status.conditions",
            "Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive",
        ));
    }
}

fn role_ref_valid(obj: &Value, causes: &mut Vec<FieldCause>) {
    let kind = obj
        .pointer("/roleRef/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(kind, "Role" | "ClusterRole") {
        causes.push(cause(
            "FieldValueNotSupported",
            "roleRef.kind",
            format!("Unsupported value: \"{kind}\": supported values: \"Role\", \"ClusterRole\""),
        ));
    }
    if obj
        .pointer("/roleRef/name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        causes.push(cause(
            "FieldValueRequired",
            "roleRef.name",
            "Required value",
        ));
    }
    for (i, s) in obj
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or_default();
        if !matches!(kind, "User" | "Group" | "ServiceAccount") {
            causes.push(cause(
                "FieldValueNotSupported",
                &format!("subjects[{i}].kind"),
                format!("Unsupported value: \"{kind}\": supported values: \"ServiceAccount\", \"User\", \"Group\""),
            ));
        }
    }
}

fn rules_valid(obj: &Value, causes: &mut Vec<FieldCause>) {
    for (i, r) in obj
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if r.get("verbs")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            causes.push(cause(
                "FieldValueRequired",
                &format!("rules[{i}].verbs"),
                "verbs must contain at least one value",
            ));
        }
    }
}

/// Validates a built-in object; each problem is a field cause (422 Invalid).
pub fn validate(rt: &ResourceType, obj: &Value) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    if rt.custom {
        return causes;
    }
    match rt.kind.as_str() {
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            workload_valid(obj, &mut causes)
        }
        "Job" => job_valid(obj, &mut causes),
        "CronJob" => cronjob_valid(obj, &mut causes),
        "NetworkPolicy" => network_policy_valid(obj, &mut causes),
        "Service" => service_valid(obj, &mut causes),
        "CertificateSigningRequest" => csr_valid(obj, &mut causes),
        "RoleBinding" | "ClusterRoleBinding" => role_ref_valid(obj, &mut causes),
        "Role" | "ClusterRole" => rules_valid(obj, &mut causes),
        "Pod" => {
            containers_valid(obj, "/spec", &mut causes);
            ephemeral_valid(obj, &mut causes);
        }
        "HorizontalPodAutoscaler" => {
            if obj.pointer("/spec/scaleTargetRef/name").is_none() {
                causes.push(cause(
                    "FieldValueRequired",
                    "spec.scaleTargetRef.name",
                    "Required value",
                ));
            }
            if obj
                .pointer("/spec/maxReplicas")
                .and_then(Value::as_i64)
                .is_none()
            {
                causes.push(cause(
                    "FieldValueRequired",
                    "spec.maxReplicas",
                    "Required value",
                ));
            }
        }
        "CustomResourceDefinition" => {
            if let Err(e) = super::registry::from_crd(obj) {
                let (field, msg) = e.split_once(": ").unwrap_or(("spec", e.as_str()));
                causes.push(cause("FieldValueRequired", field, msg.to_string()));
            } else {
                let expected = format!(
                    "{}.{}",
                    obj.pointer("/spec/names/plural")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    obj.pointer("/spec/group")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                );
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if name != expected {
                    causes.push(cause(
                        "FieldValueInvalid",
                        "metadata.name",
                        format!(
                            "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
                        ),
                    ));
                }
            }
        }
        _ => {}
    }
    causes
}

/// The status a new object of a built-in kind starts with (status is not client-settable on create).
pub fn initial_status(rt: &ResourceType, obj: &Value) -> Option<Value> {
    match rt.kind.as_str() {
        "Pod" => Some(json!({"phase": "Pending", "qosClass": "BestEffort"})),
        "Namespace" => Some(json!({"phase": "Active"})),
        "PersistentVolumeClaim" => Some(json!({"phase": "Pending"})),
        "Service" => Some(json!({"loadBalancer": {}})),
        "CertificateSigningRequest" | "Job" => Some(json!({})),
        "Node" => obj.get("status").cloned(),
        "CustomResourceDefinition" => {
            let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let stored: Vec<Value> = obj
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                        .filter_map(|v| v.get("name").cloned())
                        .collect()
                })
                .unwrap_or_default();
            Some(json!({
                "acceptedNames": names,
                "storedVersions": stored,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
                ]
            }))
        }
        _ if rt.status_subresource => None,
        _ => obj.get("status").cloned(),
    }
}

/// Whether an object's `status.conditions` has `type_` with status "True" (Pod Ready, Node Ready).
pub fn condition_true(obj: &Value, type_: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == type_ && c["status"] == "True")
        })
}
