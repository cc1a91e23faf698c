//! The workload simulation: Deployments, ReplicaSets, Pods, scheduling, eviction,
//! StatefulSets, PVC resizes and HPAs.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams, PostParams};
use remedy::cluster::{EmbeddedCluster, SimulationConfig};
use serde_json::json;

use crate::{cluster, deployment};

fn fast() -> SimulationConfig {
    SimulationConfig {
        tick: Duration::from_millis(10),
        pod_ready_delay: Duration::from_millis(50),
        nodes: 3,
        failing_images: vec!["broken".into()],
        ..SimulationConfig::default()
    }
}

/// Polls `check` until it answers Some, for up to 10 seconds.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..1000 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn revision(rs: &ReplicaSet) -> String {
    rs.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"].clone()
}

async fn rollout_done(deps: &Api<Deployment>, name: &str, replicas: i32) -> Deployment {
    let deps = deps.clone();
    eventually("the rollout", || {
        let deps = deps.clone();
        async move {
            let d = deps.get(name).await.unwrap();
            let s = d.status.clone()?;
            let done = s.observed_generation == d.metadata.generation
                && s.updated_replicas == Some(replicas)
                && s.available_replicas == Some(replicas)
                && s.replicas == Some(replicas)
                && s.conditions.as_ref()?.iter().any(|c| {
                    c.type_ == "Progressing"
                        && c.reason.as_deref() == Some("NewReplicaSetAvailable")
                });
            done.then_some(d)
        }
    })
    .await
}

async fn sorted_sets(c: &EmbeddedCluster) -> Vec<ReplicaSet> {
    let rss: Api<ReplicaSet> = Api::default_namespaced(c.client());
    let mut sets = rss.list(&ListParams::default()).await.unwrap().items;
    sets.sort_by_key(|rs| revision(rs).parse::<u32>().unwrap());
    sets
}

#[tokio::test]
async fn deployments_roll_out_through_replica_sets_and_roll_back() {
    let c = cluster();
    let _sim = c.start_simulation(fast());
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    deps.create(&PostParams::default(), &deployment("web", 3, "nginx:1"))
        .await
        .unwrap();
    let d = rollout_done(&deps, "web", 3).await;
    let conds = d.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Available" && c.status == "True")
    );
    let pods: Api<Pod> = Api::default_namespaced(c.client());
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .iter()
            .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Running"))
    );
    let first_hash =
        sorted_sets(&c).await[0].metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();

    let image = |i: &str| json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": i}]}}}});
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(image("nginx:2")),
    )
    .await
    .unwrap();
    rollout_done(&deps, "web", 3).await;
    let sets = sorted_sets(&c).await;
    assert_eq!(sets.iter().map(revision).collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(sets[0].spec.as_ref().unwrap().replicas, Some(0));
    assert_eq!(sets[1].spec.as_ref().unwrap().replicas, Some(3));

    // Rollback: the first template again; its ReplicaSet becomes revision 3.
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(image("nginx:1")),
    )
    .await
    .unwrap();
    rollout_done(&deps, "web", 3).await;
    let sets = sorted_sets(&c).await;
    assert_eq!(sets.len(), 2);
    let newest = sets.last().unwrap();
    assert_eq!(revision(newest), "3");
    assert_eq!(
        newest.metadata.labels.as_ref().unwrap()["pod-template-hash"],
        first_hash
    );
}

#[tokio::test]
async fn cordoned_nodes_get_no_pods_and_evicted_pods_are_replaced() {
    let c = cluster();
    let _sim = c.start_simulation(fast());
    let nodes: Api<Node> = Api::all(c.client());
    let _ = eventually("nodes", || {
        let nodes = nodes.clone();
        async move {
            (nodes
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len()
                == 3)
                .then_some(())
        }
    })
    .await;
    for n in ["node-1", "node-2"] {
        nodes
            .patch(
                n,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"unschedulable": true}})),
            )
            .await
            .unwrap();
    }
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    deps.create(&PostParams::default(), &deployment("web", 2, "nginx:1"))
        .await
        .unwrap();
    rollout_done(&deps, "web", 2).await;
    let pods: Api<Pod> = Api::default_namespaced(c.client());
    let listed = pods.list(&ListParams::default()).await.unwrap().items;
    let on: Vec<String> = listed
        .iter()
        .map(|p| p.spec.as_ref().unwrap().node_name.clone().unwrap())
        .collect();
    assert_eq!(on, ["node-3", "node-3"]);
    let victim = listed[0].metadata.name.clone().unwrap();
    pods.evict(&victim, &EvictParams::default()).await.unwrap();
    let replaced = eventually("a replacement pod", || {
        let pods = pods.clone();
        let victim = victim.clone();
        async move {
            let names: Vec<String> = pods
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|p| p.metadata.name.unwrap())
                .collect();
            (names.len() == 2 && !names.contains(&victim)).then_some(names)
        }
    })
    .await;
    assert_eq!(replaced.len(), 2);
    rollout_done(&deps, "web", 2).await;
}

#[tokio::test]
async fn stateful_sets_create_ordered_pods() {
    let c = cluster();
    let _sim = c.start_simulation(fast());
    let sts: Api<StatefulSet> = Api::default_namespaced(c.client());
    let set = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "pg:16"}]}}}
    }))
    .unwrap();
    sts.create(&PostParams::default(), &set).await.unwrap();
    let done = eventually("the stateful set", || {
        let sts = sts.clone();
        async move {
            let s = sts.get("db").await.unwrap();
            (s.status.as_ref()?.ready_replicas == Some(3)).then_some(s)
        }
    })
    .await;
    assert_eq!(done.status.unwrap().observed_generation, Some(1));
    let pods: Api<Pod> = Api::default_namespaced(c.client());
    let mut listed = pods
        .list(&ListParams::default().labels("app=db"))
        .await
        .unwrap()
        .items;
    listed.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    let names: Vec<String> = listed
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);
}

#[tokio::test]
async fn pvc_binds_and_a_resize_shows_in_capacity() {
    let c = cluster();
    let _sim = c.start_simulation(fast());
    let pvcs: Api<PersistentVolumeClaim> = Api::default_namespaced(c.client());
    let pvc = serde_json::from_value(json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})).unwrap();
    pvcs.create(&PostParams::default(), &pvc).await.unwrap();
    let capacity = |want: &'static str| {
        let pvcs = pvcs.clone();
        move || {
            let pvcs = pvcs.clone();
            async move {
                let p = pvcs.get("data").await.unwrap();
                let s = p.status?;
                (s.phase.as_deref() == Some("Bound") && s.capacity?.get("storage")?.0 == want)
                    .then_some(())
            }
        }
    };
    eventually("bound at 1Gi", capacity("1Gi")).await;
    pvcs.patch(
        "data",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"resources": {"requests": {"storage": "5Gi"}}}})),
    )
    .await
    .unwrap();
    eventually("resized to 5Gi", capacity("5Gi")).await;
}

#[tokio::test]
async fn hpa_reports_replicas_and_keeps_the_target_within_bounds() {
    let c = cluster();
    let _sim = c.start_simulation(fast());
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    deps.create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .unwrap();
    let hpas: Api<HorizontalPodAutoscaler> = Api::default_namespaced(c.client());
    let hpa = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 5}})).unwrap();
    hpas.create(&PostParams::default(), &hpa).await.unwrap();
    rollout_done(&deps, "web", 2).await;
    let status = eventually("hpa status", || {
        let hpas = hpas.clone();
        async move {
            let s = hpas.get("web").await.unwrap().status?;
            (s.current_replicas == Some(2)).then_some(s)
        }
    })
    .await;
    assert_eq!(status.desired_replicas, 2);
}

#[tokio::test]
async fn daemon_sets_run_one_pod_per_matching_node() {
    let c = cluster();
    let _sim = c.start_simulation(fast());
    let nodes: Api<Node> = Api::all(c.client());
    eventually("nodes", || {
        let nodes = nodes.clone();
        async move {
            (nodes
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len()
                == 3)
                .then_some(())
        }
    })
    .await;
    nodes
        .patch(
            "node-2",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"disk": "ssd"}}, "spec": {"unschedulable": true}}),
            ),
        )
        .await
        .unwrap();
    nodes
        .patch(
            "node-3",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"disk": "ssd"}}})),
        )
        .await
        .unwrap();
    let dss: Api<k8s_openapi::api::apps::v1::DaemonSet> = Api::default_namespaced(c.client());
    let ds = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "a", "image": "agent:1"}]}}}
    }))
    .unwrap();
    dss.create(&PostParams::default(), &ds).await.unwrap();
    eventually("daemon set ready", || {
        let dss = dss.clone();
        async move {
            let s = dss.get("agent").await.unwrap().status?;
            (s.desired_number_scheduled == 2 && s.number_ready == 2).then_some(())
        }
    })
    .await;
    let pods: Api<Pod> = Api::default_namespaced(c.client());
    let mut on: Vec<String> = pods
        .list(&ListParams::default().labels("app=agent"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.spec.unwrap().node_name.unwrap())
        .collect();
    on.sort();
    assert_eq!(on, ["node-2", "node-3"]);
}

#[tokio::test]
async fn a_rollout_to_an_image_that_cannot_be_pulled_exceeds_its_deadline() {
    let c = cluster();
    let _sim = c.start_simulation(fast());
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    let mut d = deployment("web", 2, "nginx:1");
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(1);
    deps.create(&PostParams::default(), &d).await.unwrap();
    rollout_done(&deps, "web", 2).await;
    let image = |i: &str| json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": i}]}}}});
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(image("nginx:broken")),
    )
    .await
    .unwrap();
    let stuck = eventually("ProgressDeadlineExceeded", || {
        let deps = deps.clone();
        async move {
            let d = deps.get("web").await.unwrap();
            let cond = d
                .status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "Progressing")?;
            (cond.reason.as_deref() == Some("ProgressDeadlineExceeded")).then_some(cond)
        }
    })
    .await;
    assert_eq!(stuck.status, "False");
    let d = deps.get("web").await.unwrap();
    assert_eq!(
        d.status.unwrap().available_replicas,
        Some(2),
        "the old pods keep serving"
    );
    let pods: Api<Pod> = Api::default_namespaced(c.client());
    let waiting: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| {
            p.status?
                .container_statuses?
                .first()?
                .state
                .clone()?
                .waiting?
                .reason
        })
        .collect();
    assert!(
        waiting.iter().any(|r| r == "ImagePullBackOff"),
        "{waiting:?}"
    );
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(image("nginx:1")),
    )
    .await
    .unwrap();
    rollout_done(&deps, "web", 2).await;
}
