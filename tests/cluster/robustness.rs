//! Arbitrary request bodies never crash the server: every answer is an HTTP response.

use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z$/.-]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("metadata".to_string()),
                    Just("spec".to_string()),
                    Just("status".to_string()),
                    Just("name".to_string()),
                    Just("$patch".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const PATHS: [&str; 5] = [
    "/apis/apps/v1/namespaces/default/deployments",
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/configmaps",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "/api/v1/namespaces",
];

const PATCH_TYPES: [&str; 4] = [
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn any_body_gets_an_answer(body in arb_json(), named in arb_json(), path in 0..PATHS.len(), patch in 0..PATCH_TYPES.len()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let cluster = crate::cluster();
            let mut svc = cluster.service();
            let mut named = named;
            if let Some(m) = named.as_object_mut() {
                m.insert("metadata".into(), json!({"name": "x"}));
            }
            let base = PATHS[path];
            let requests = [
                http::Request::post(base).header("content-type", "application/json").body(body.to_string()).unwrap(),
                http::Request::post(base).header("content-type", "application/json").body(named.to_string()).unwrap(),
                http::Request::put(format!("{base}/x")).header("content-type", "application/json").body(body.to_string()).unwrap(),
                http::Request::patch(format!("{base}/x?fieldManager=m")).header("content-type", PATCH_TYPES[patch]).body(body.to_string()).unwrap(),
                http::Request::patch(format!("{base}/x/status?fieldManager=m")).header("content-type", PATCH_TYPES[patch]).body(body.to_string()).unwrap(),
                http::Request::delete(format!("{base}/x")).header("content-type", "application/json").body(body.to_string()).unwrap(),
            ];
            for req in requests {
                let req: http::Request<http_body_util::Full<bytes::Bytes>> = req.map(|b| http_body_util::Full::new(bytes::Bytes::from(b)));
                let resp = ServiceExt::<http::Request<http_body_util::Full<bytes::Bytes>>>::ready(&mut svc).await.unwrap().call(req).await.unwrap();
                let code = resp.status().as_u16();
                assert!((200..600).contains(&code));
                let bytes = resp.into_body().collect().await.unwrap().to_bytes();
                let answer: Value = serde_json::from_slice(&bytes).unwrap();
                if code >= 400 {
                    assert_eq!(answer["kind"], "Status", "{answer}");
                }
            }
        });
    }
}
