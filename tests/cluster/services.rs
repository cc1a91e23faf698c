//! The APIs every kube-apiserver has: the `default/kubernetes` Service and Services with their
//! allocated IPs and ports, Jobs with their generated selector (and simulated Pods), RBAC with
//! the bootstrap `cluster-admin`, CertificateSigningRequests and their approval, Pods'
//! ephemeral containers, APIServices and component statuses.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{ComponentStatus, Pod, Service};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use remedy::cluster::SimulationConfig;
use serde_json::{Value, json};

use crate::{api_err, cluster};

fn service(name: &str, spec: Value) -> Service {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}),
    )
    .unwrap()
}

#[tokio::test]
async fn the_kubernetes_service_exists_and_services_get_their_ips_and_ports() {
    let c = cluster();
    let svcs: Api<Service> = Api::default_namespaced(c.client());
    let k = svcs.get("kubernetes").await.unwrap();
    let spec = k.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.1"));
    assert_eq!(spec.ports.unwrap()[0].port, 443);

    let web = svcs
        .create(
            &PostParams::default(),
            &service(
                "web",
                json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}),
            ),
        )
        .await
        .unwrap();
    let spec = web.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.2"));
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    let port = &spec.ports.unwrap()[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
    );

    // A taken IP, a taken node port, and a missing port are refused as kube-apiserver does.
    let taken = api_err(
        svcs.create(
            &PostParams::default(),
            &service(
                "twin",
                json!({"clusterIP": "10.96.0.2", "ports": [{"port": 80}]}),
            ),
        )
        .await,
    );
    assert_eq!(taken.code, 422);
    assert!(
        taken.message.contains("provided IP is already allocated"),
        "{}",
        taken.message
    );
    let np = svcs
        .create(
            &PostParams::default(),
            &service("np", json!({"type": "NodePort", "ports": [{"port": 80}]})),
        )
        .await
        .unwrap();
    let node_port = np.spec.unwrap().ports.unwrap()[0].node_port.unwrap();
    assert_eq!(node_port, 30000);
    let clash = api_err(
        svcs.create(
            &PostParams::default(),
            &service(
                "np2",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": node_port}]}),
            ),
        )
        .await,
    );
    assert!(
        clash.message.contains("provided port is already allocated"),
        "{}",
        clash.message
    );
    let no_ports = api_err(
        svcs.create(&PostParams::default(), &service("bare", json!({})))
            .await,
    );
    assert!(
        no_ports.message.contains("spec.ports: Required value"),
        "{}",
        no_ports.message
    );

    // An update that leaves the IP out keeps it; one that changes it is refused.
    let mut replaced = svcs.get("web").await.unwrap();
    replaced.spec.as_mut().unwrap().cluster_ip = None;
    replaced.spec.as_mut().unwrap().cluster_ips = None;
    let kept = svcs
        .replace("web", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(kept.spec.unwrap().cluster_ip.as_deref(), Some("10.96.0.2"));
    let moved = api_err(
        svcs.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"clusterIP": "10.96.0.9"}})),
        )
        .await,
    );
    assert!(
        moved.message.contains("may not change once set"),
        "{}",
        moved.message
    );
}

#[tokio::test]
async fn jobs_get_a_generated_selector_and_their_pods() {
    let c = cluster();
    let sim = c.start_simulation(SimulationConfig {
        tick: Duration::from_millis(20),
        pod_ready_delay: Duration::from_millis(20),
        ..SimulationConfig::default()
    });
    let jobs: Api<Job> = Api::default_namespaced(c.client());
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                 "containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .unwrap();
    let created = jobs.create(&PostParams::default(), &job).await.unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let spec = created.spec.unwrap();
    assert_eq!(
        spec.selector.unwrap().match_labels.unwrap()["batch.kubernetes.io/controller-uid"],
        uid
    );
    let labels = spec.template.metadata.unwrap().labels.unwrap();
    assert_eq!(labels["job-name"], "once");
    assert_eq!(
        (spec.parallelism, spec.completions, spec.backoff_limit),
        (Some(1), Some(1), Some(6))
    );
    // The default restartPolicy (Always) is refused for a Job, as kube-apiserver refuses it.
    let mut always = job.clone();
    always.metadata.name = Some("always".into());
    always
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .restart_policy = None;
    let e = api_err(jobs.create(&PostParams::default(), &always).await);
    assert!(
        e.message
            .contains("spec.template.spec.restartPolicy: Unsupported value: \"Always\""),
        "{}",
        e.message
    );

    let pods: Api<Pod> = Api::default_namespaced(c.client());
    let selector = format!("batch.kubernetes.io/controller-uid={uid}");
    for _ in 0..500 {
        let running = jobs
            .get("once")
            .await
            .unwrap()
            .status
            .and_then(|s| s.active);
        let listed = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap();
        if running == Some(1) && listed.items.len() == 1 {
            sim.stop();
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the Job's pod never showed");
}

#[tokio::test]
async fn rbac_starts_with_cluster_admin_and_a_binding_keeps_its_role() {
    let c = cluster();
    let roles: Api<ClusterRole> = Api::all(c.client());
    let admin = roles.get("cluster-admin").await.unwrap();
    assert_eq!(admin.rules.unwrap()[0].verbs, vec!["*".to_string()]);
    let bindings: Api<RoleBinding> = Api::default_namespaced(c.client());
    let binding: RoleBinding = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]
    }))
    .unwrap();
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let e = api_err(
        bindings
            .patch(
                "b",
                &PatchParams::default(),
                &Patch::Merge(json!({"roleRef": {"name": "edit"}})),
            )
            .await,
    );
    assert!(e.message.contains("cannot change roleRef"), "{}", e.message);
}

const CSR_REQUEST: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlJQ1ZqQ0NBVDRDQVFBd0VURVBNQTBHQTFVRUF3d0dZVzVuWld4aE1JSUJJakFOQmdrcWhraUc5dzBCQVFFRgotLS0tLUVORCBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K";

#[tokio::test]
async fn a_csr_is_approved_through_its_approval_subresource() {
    let c = cluster();
    let csrs: Api<CertificateSigningRequest> = Api::all(c.client());
    let csr: CertificateSigningRequest = serde_json::from_value(json!({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": "fake"},
        "spec": {"request": CSR_REQUEST, "signerName": "kubernetes.io/kube-apiserver-client",
                 "usages": ["client auth"], "username": "forged"}
    }))
    .unwrap();
    let created = csrs.create(&PostParams::default(), &csr).await.unwrap();
    // The requester is the server's to say.
    assert_eq!(created.spec.username.as_deref(), Some("system:anonymous"));
    let condition = json!({"status": {"conditions": [
        {"type": "Approved", "status": "True", "reason": "Test", "message": "approved by a test"}]}});
    // Through the main resource, status does not change; through approval, it does.
    csrs.patch("fake", &PatchParams::default(), &Patch::Merge(&condition))
        .await
        .unwrap();
    assert!(
        csrs.get("fake")
            .await
            .unwrap()
            .status
            .unwrap()
            .conditions
            .is_none()
    );
    csrs.patch_approval("fake", &PatchParams::default(), &Patch::Merge(&condition))
        .await
        .unwrap();
    let approved = csrs.get_approval("fake").await.unwrap();
    let conditions = approved.status.unwrap().conditions.unwrap();
    assert_eq!(conditions[0].type_, "Approved");
    assert!(
        conditions[0].last_update_time.is_some(),
        "the server stamps the condition"
    );
    let both = json!({"status": {"conditions": [
        {"type": "Approved", "status": "True"}, {"type": "Denied", "status": "True"}]}});
    let e = api_err(
        csrs.patch_approval("fake", &PatchParams::default(), &Patch::Merge(&both))
            .await,
    );
    assert!(e.message.contains("mutually exclusive"), "{}", e.message);
    let mut bad = csr.clone();
    bad.metadata.name = Some("bad".into());
    bad.spec.request = k8s_openapi::ByteString(b"not a CSR".to_vec());
    let e = api_err(csrs.create(&PostParams::default(), &bad).await);
    assert!(
        e.message
            .contains("PEM block type must be CERTIFICATE REQUEST"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn ephemeral_containers_are_added_through_their_subresource_only_ever_added() {
    let c = cluster();
    let pods: Api<Pod> = Api::default_namespaced(c.client());
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    assert!(
        pods.get_ephemeral_containers("p")
            .await
            .unwrap()
            .spec
            .unwrap()
            .ephemeral_containers
            .is_none()
    );
    let first: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [], "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}
    }))
    .unwrap();
    let after = pods
        .replace_ephemeral_containers("p", &PostParams::default(), &first)
        .await
        .unwrap();
    let eph = after.spec.unwrap().ephemeral_containers.unwrap();
    assert_eq!(eph[0].name, "debug");
    assert_eq!(
        eph[0].termination_message_policy.as_deref(),
        Some("File"),
        "defaulted"
    );
    let more: Pod = serde_json::from_value(json!({"spec": {"containers": [],
        "ephemeralContainers": [{"name": "debug2", "image": "busybox"}]}}))
    .unwrap();
    let after = pods
        .patch_ephemeral_containers("p", &PatchParams::default(), &Patch::Strategic(more))
        .await
        .unwrap();
    assert_eq!(after.spec.unwrap().ephemeral_containers.unwrap().len(), 2);
    // Removing one is refused.
    let e = api_err(
        pods.patch_ephemeral_containers(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ephemeralContainers": []}})),
        )
        .await,
    );
    assert!(e.message.contains("may not be removed"), "{}", e.message);
    // The subresource writes nothing else.
    let after = pods
        .patch_ephemeral_containers(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert!(after.metadata.labels.is_none());
}

#[tokio::test]
async fn apiservices_and_component_statuses_are_served_read_as_kube_apiserver_has_them() {
    let c = cluster();
    let services: Api<APIService> = Api::all(c.client());
    let apps = services.get("v1.apps").await.unwrap();
    let conditions = apps.status.unwrap().conditions.unwrap();
    assert_eq!(
        (conditions[0].type_.as_str(), conditions[0].status.as_str()),
        ("Available", "True")
    );
    assert!(
        services
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len()
            > 10
    );
    let statuses: Api<ComponentStatus> = Api::all(c.client());
    let scheduler = statuses.get("scheduler").await.unwrap();
    assert_eq!(scheduler.conditions.unwrap()[0].type_, "Healthy");
    let e = api_err(statuses.delete("scheduler", &DeleteParams::default()).await);
    assert_eq!((e.code, e.reason.as_str()), (405, "MethodNotAllowed"));
}

#[tokio::test]
async fn objects_are_written_kind_first_as_kube_apiserver_writes_them() {
    let c = cluster();
    let client = c.client();
    let req = http::Request::get("/api/v1/namespaces/default/services/kubernetes")
        .body(Vec::new())
        .unwrap();
    let text = client.request_text(req).await.unwrap();
    assert!(
        text.starts_with(r#"{"kind":"Service","apiVersion":"v1","metadata":{"#),
        "{text}"
    );
    // A Service read as a Pod (kube-rs's `fetch` of a mismatched reference): the error names
    // the kind where kube-apiserver writes it.
    let err = client
        .request::<Pod>(
            http::Request::get("/api/v1/namespaces/default/services/kubernetes")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Error deserializing response: invalid value: string \"Service\", expected Pod at line 1 column 17"
    );
    let list = client
        .request_text(
            http::Request::get("/api/v1/namespaces/default/services")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(
        list.starts_with(r#"{"kind":"ServiceList","apiVersion":"v1","metadata":{"#),
        "{list}"
    );
}
