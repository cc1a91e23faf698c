//! ServiceAccount tokens: a TokenRequest issues one, a TokenReview accepts it for its audience
//! while its ServiceAccount lives, and refuses forged, foreign-audience and orphaned tokens.

use k8s_openapi::api::authentication::v1::{
    TokenRequest, TokenRequestSpec, TokenReview, TokenReviewSpec,
};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use crate::{api_err, cluster};

async fn review(
    reviews: &Api<TokenReview>,
    token: &str,
    audiences: &[&str],
) -> k8s_openapi::api::authentication::v1::TokenReviewStatus {
    let review = TokenReview {
        metadata: Default::default(),
        spec: TokenReviewSpec {
            audiences: Some(audiences.iter().map(|a| a.to_string()).collect()),
            token: Some(token.to_string()),
        },
        status: None,
    };
    reviews
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap()
}

fn request(audiences: &[&str], expiration: Option<i64>) -> TokenRequest {
    TokenRequest {
        metadata: Default::default(),
        spec: TokenRequestSpec {
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
            expiration_seconds: expiration,
            ..Default::default()
        },
        status: None,
    }
}

#[tokio::test]
async fn a_token_request_issues_a_token_a_token_review_accepts_while_its_account_lives() {
    let c = cluster();
    let sas: Api<ServiceAccount> = Api::default_namespaced(c.client());
    let reviews: Api<TokenReview> = Api::all(c.client());
    let sa: ServiceAccount = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot"}}),
    )
    .unwrap();
    let sa = sas.create(&PostParams::default(), &sa).await.unwrap();

    let missing = api_err(
        sas.create_token_request("nobody", &PostParams::default(), &request(&["api"], None))
            .await,
    );
    assert_eq!(missing.code, 404);
    let short = api_err(
        sas.create_token_request("bot", &PostParams::default(), &request(&["api"], Some(60)))
            .await,
    );
    assert!(
        short
            .message
            .contains("may not specify a duration less than 10 minutes"),
        "{}",
        short.message
    );

    let issued = sas
        .create_token_request("bot", &PostParams::default(), &request(&["api"], None))
        .await
        .unwrap();
    assert_eq!(issued.spec.expiration_seconds, Some(3600));
    let token = issued.status.unwrap().token;
    assert!(!token.is_empty());

    let ok = review(&reviews, &token, &["api"]).await;
    assert_eq!(ok.authenticated, Some(true));
    assert_eq!(ok.audiences, Some(vec!["api".to_string()]));
    let user = ok.user.unwrap();
    assert_eq!(
        user.username.as_deref(),
        Some("system:serviceaccount:default:bot")
    );
    assert_eq!(user.uid, sa.metadata.uid);
    assert!(
        user.groups
            .unwrap()
            .contains(&"system:serviceaccounts:default".to_string())
    );

    // Another audience, an altered token, a token of another server: refused.
    let other = review(&reviews, &token, &["vault"]).await;
    assert_eq!(other.authenticated, None);
    assert!(other.error.unwrap().contains("audiences"));
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let claims = String::from_utf8(b64.decode(&parts[1]).unwrap()).unwrap();
    assert!(claims.contains("system:serviceaccount:default:bot"));
    parts[1] = b64.encode(claims.replace(":bot", ":admin"));
    let forged = review(&reviews, &parts.join("."), &["api"]).await;
    assert_eq!(forged.authenticated, None);
    let elsewhere = {
        let c2 = cluster();
        let sas2: Api<ServiceAccount> = Api::default_namespaced(c2.client());
        sas2.create(&PostParams::default(), &sa_named("bot"))
            .await
            .unwrap();
        sas2.create_token_request("bot", &PostParams::default(), &request(&["api"], None))
            .await
            .unwrap()
            .status
            .unwrap()
            .token
    };
    assert_eq!(
        review(&reviews, &elsewhere, &["api"]).await.authenticated,
        None
    );

    // Once the account is gone (or recreated: another uid), its tokens are too.
    sas.delete("bot", &DeleteParams::default()).await.unwrap();
    sas.create(&PostParams::default(), &sa_named("bot"))
        .await
        .unwrap();
    let gone = review(&reviews, &token, &["api"]).await;
    assert_eq!(gone.authenticated, None);
    assert!(gone.error.unwrap().contains("invalidated"));
}

fn sa_named(name: &str) -> ServiceAccount {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}),
    )
    .unwrap()
}
