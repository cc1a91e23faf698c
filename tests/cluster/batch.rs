//! CronJobs, Jobs and NetworkPolicies: validation and defaults, the CronJob controller on a
//! fast clock (schedules, suspension, concurrency policies, history), controllers that
//! release a relabelled pod and adopt a matching orphan, and percentage disruption budgets.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use remedy::cluster::SimulationConfig;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{api_err, cluster, deployment};

fn fast(speed: f64) -> SimulationConfig {
    SimulationConfig {
        tick: Duration::from_millis(10),
        pod_ready_delay: Duration::from_millis(30),
        nodes: 2,
        speed,
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

async fn create<K>(client: &Client, value: Value) -> Result<K, kube::Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::default_namespaced(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(value).unwrap(),
    )
    .await
}

fn cronjob(name: &str, schedule: &str, policy: &str) -> Value {
    json!({
        "metadata": { "name": name },
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": policy,
            "jobTemplate": { "metadata": { "labels": { "app": name } }, "spec": { "template": { "spec": {
                "restartPolicy": "Never",
                "containers": [ { "name": "run", "image": "report:1" } ]
            } } } }
        }
    })
}

async fn jobs_of(client: &Client, cronjob: &str) -> Vec<Job> {
    let api: Api<Job> = Api::default_namespaced(client.clone());
    let mut jobs: Vec<Job> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| j.owner_references().iter().any(|o| o.name == cronjob))
        .collect();
    jobs.sort_by_key(|j| j.name_any());
    jobs
}

#[tokio::test]
async fn cronjobs_jobs_and_network_policies_are_validated_and_defaulted() {
    let c = cluster();
    let client = c.client();
    let cj: CronJob = create(&client, cronjob("report", "*/5 * * * *", "Allow"))
        .await
        .unwrap();
    let spec = cj.spec.unwrap();
    assert_eq!(spec.suspend, Some(false));
    assert_eq!(spec.successful_jobs_history_limit, Some(3));
    assert_eq!(spec.failed_jobs_history_limit, Some(1));
    assert_eq!(spec.job_template.spec.unwrap().backoff_limit, Some(6));
    assert_eq!(cj.metadata.generation, Some(1));

    let bad = api_err(create::<CronJob>(&client, cronjob("bad", "61 * * * *", "Allow")).await);
    assert_eq!(bad.code, 422);
    assert!(bad.message.contains("spec.schedule"), "{}", bad.message);
    assert!(
        bad.message.contains("minute 61 is out of range"),
        "{}",
        bad.message
    );
    let bad = api_err(create::<CronJob>(&client, cronjob("bad", "@daily", "Sometimes")).await);
    assert!(
        bad.message.contains("spec.concurrencyPolicy"),
        "{}",
        bad.message
    );
    let long = "r".repeat(53);
    let bad = api_err(create::<CronJob>(&client, cronjob(&long, "@daily", "Allow")).await);
    assert!(
        bad.message.contains("no more than 52 characters"),
        "{}",
        bad.message
    );

    let bad = api_err(
        create::<Job>(
            &client,
            json!({ "metadata": { "name": "once" }, "spec": { "template": { "spec": {
                "containers": [ { "name": "run", "image": "x" } ] } } } }),
        )
        .await,
    );
    assert_eq!(bad.code, 422);
    assert!(
        bad.message.contains("spec.template.spec.restartPolicy"),
        "{}",
        bad.message
    );

    let np: NetworkPolicy = create(
        &client,
        json!({ "metadata": { "name": "deny" }, "spec": { "podSelector": {},
                "egress": [ { "to": [ { "podSelector": {} } ] } ] } }),
    )
    .await
    .unwrap();
    assert_eq!(
        np.spec.unwrap().policy_types,
        Some(vec!["Ingress".to_string(), "Egress".to_string()])
    );
    let bad = api_err(
        create::<NetworkPolicy>(&client, json!({ "metadata": { "name": "x" }, "spec": {} })).await,
    );
    assert!(bad.message.contains("spec.podSelector"), "{}", bad.message);
}

#[tokio::test]
async fn a_cronjob_creates_jobs_on_schedule_and_none_while_suspended() {
    let c = cluster();
    let client = c.client();
    // 600 times real time: a scheduled minute every 100ms.
    let _sim = c.start_simulation(fast(600.0));
    create::<CronJob>(&client, cronjob("report", "* * * * *", "Allow"))
        .await
        .unwrap();
    let jobs = eventually("three Jobs", || {
        let client = client.clone();
        async move {
            let jobs = jobs_of(&client, "report").await;
            (jobs.len() >= 3).then_some(jobs)
        }
    })
    .await;
    for job in &jobs {
        let minutes: i64 = job
            .name_any()
            .strip_prefix("report-")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            job.annotations()["batch.kubernetes.io/cronjob-scheduled-timestamp"],
            jiff::Timestamp::from_second(minutes * 60)
                .unwrap()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        );
        assert_eq!(job.labels()["app"], "report");
    }
    let api: Api<CronJob> = Api::default_namespaced(client.clone());
    let cj = eventually("the status", || {
        let api = api.clone();
        async move {
            let cj = api.get("report").await.unwrap();
            let s = cj.status.clone()?;
            (s.last_schedule_time.is_some() && s.active.as_ref().is_some_and(|a| a.len() >= 3))
                .then_some(cj)
        }
    })
    .await;
    assert!(cj.status.unwrap().active.unwrap()[0].kind.as_deref() == Some("Job"));

    api.patch(
        "report",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "suspend": true } })),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = jobs_of(&client, "report").await.len();
    // Five scheduled minutes go by.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(jobs_of(&client, "report").await.len(), before, "suspended");

    api.patch(
        "report",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "suspend": false } })),
    )
    .await
    .unwrap();
    eventually("a Job after resuming", || {
        let client = client.clone();
        async move { (jobs_of(&client, "report").await.len() > before).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn forbid_skips_runs_while_a_job_is_active_and_replace_replaces_it() {
    let c = cluster();
    let client = c.client();
    let _sim = c.start_simulation(fast(600.0));
    create::<CronJob>(&client, cronjob("single", "* * * * *", "Forbid"))
        .await
        .unwrap();
    create::<CronJob>(&client, cronjob("fresh", "* * * * *", "Replace"))
        .await
        .unwrap();
    eventually("a Job of each", || {
        let client = client.clone();
        async move {
            (!jobs_of(&client, "single").await.is_empty()
                && !jobs_of(&client, "fresh").await.is_empty())
            .then_some(())
        }
    })
    .await;
    let first = jobs_of(&client, "fresh").await[0].name_any();
    // The simulated Jobs never finish: Forbid keeps one, Replace swaps it for a newer one.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(jobs_of(&client, "single").await.len(), 1);
    let fresh = eventually("a replacement", || {
        let client = client.clone();
        let first = first.clone();
        async move {
            let jobs = jobs_of(&client, "fresh").await;
            (jobs.len() == 1 && jobs[0].name_any() != first).then_some(jobs)
        }
    })
    .await;
    assert!(fresh[0].name_any() > first);

    // A finished Job frees Forbid; beyond the history limit (1 failed) the oldest goes.
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let active = jobs_of(&client, "single").await[0].name_any();
    jobs.patch_status(
        &active,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": { "conditions": [
            { "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded" } ] } })),
    )
    .await
    .unwrap();
    let next = eventually("the next run", || {
        let client = client.clone();
        let active = active.clone();
        async move {
            let jobs = jobs_of(&client, "single").await;
            jobs.iter()
                .find(|j| j.name_any() != active)
                .map(|j| j.name_any())
        }
    })
    .await;
    jobs.patch_status(
        &next,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": { "conditions": [
            { "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded" } ] } })),
    )
    .await
    .unwrap();
    eventually("the oldest failed Job deleted", || {
        let client = client.clone();
        let active = active.clone();
        async move {
            let names: Vec<String> = jobs_of(&client, "single")
                .await
                .iter()
                .map(|j| j.name_any())
                .collect();
            (!names.contains(&active)).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn a_pod_relabelled_out_of_its_replicaset_is_released_and_replaced() {
    let c = cluster();
    let client = c.client();
    let _sim = c.start_simulation(fast(1.0));
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    deps.create(&PostParams::default(), &deployment("web", 2, "nginx:1"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let ready = |pods: Api<Pod>, n: usize| async move {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items;
        let ready = list
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        (ready == n && list.len() == n).then_some(list)
    };
    let list = eventually("two ready pods", || ready(pods.clone(), 2)).await;
    let victim = list[0].name_any();
    pods.patch(
        &victim,
        &PatchParams::default(),
        &Patch::Merge(
            json!({ "metadata": { "labels": { "app": null, "pod-template-hash": null,
                                                        "quarantined": "true" } } }),
        ),
    )
    .await
    .unwrap();
    eventually("a replacement", || ready(pods.clone(), 2)).await;
    let kept = eventually("the release", || {
        let pods = pods.clone();
        let victim = victim.clone();
        async move {
            let p = pods.get(&victim).await.unwrap();
            p.owner_references().is_empty().then_some(p)
        }
    })
    .await;
    assert!(
        kept.metadata.deletion_timestamp.is_none(),
        "kept for forensics"
    );

    // Labelled back, it is adopted again, and one pod too many goes.
    pods.patch(
        &victim,
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": {
            "app": "web", "pod-template-hash": list[0].labels()["pod-template-hash"], "quarantined": null } } })),
    )
    .await
    .unwrap();
    eventually("back to two pods", || ready(pods.clone(), 2)).await;
}

#[tokio::test]
async fn eviction_reads_percentage_budgets_rounded_up() {
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use kube::api::EvictParams;
    let c = cluster();
    let client = c.client();
    let _sim = c.start_simulation(fast(1.0));
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    deps.create(&PostParams::default(), &deployment("web", 3, "nginx:1"))
        .await
        .unwrap();
    // 50% of 3 pods, rounded up: 2 must stay available, so one eviction at a time.
    create::<PodDisruptionBudget>(
        &client,
        json!({ "metadata": { "name": "web" },
                "spec": { "minAvailable": "50%", "selector": { "matchLabels": { "app": "web" } } } }),
    )
    .await
    .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let ready = |pods: Api<Pod>| async move {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items;
        let ready: Vec<String> = list
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .map(|p| p.name_any())
            .collect();
        (ready.len() == 3).then_some(ready)
    };
    let names = eventually("three ready pods", || ready(pods.clone())).await;
    // The second eviction comes long before the replacement of the first is Ready.
    pods.evict(&names[0], &EvictParams::default())
        .await
        .unwrap();
    let refused = api_err(pods.evict(&names[1], &EvictParams::default()).await);
    assert_eq!(refused.code, 429, "{}", refused.message);
    assert!(
        refused.message.contains("disruption budget web"),
        "{}",
        refused.message
    );
}
