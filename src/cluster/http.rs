//! The HTTP/1.1 listener on a loopback address (for kubectl), and the kubeconfig that points at it.

use std::net::SocketAddr;

use hyper::service::service_fn;
use tokio_util::sync::CancellationToken;
use tower::Service;

use super::ClusterError;
use super::service::ApiService;
use crate::serve_http;

/// Binds `addr` (loopback only) and serves `service` until `shutdown`; returns the bound address.
pub async fn listen(
    service: ApiService,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> Result<SocketAddr, ClusterError> {
    if !addr.ip().is_loopback() {
        return Err(ClusterError::NotLoopback(addr));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ClusterError::Bind(addr, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| ClusterError::Bind(addr, e))?;
    let handler = service_fn(move |req| {
        let mut svc = service.clone();
        svc.call(req)
    });
    tokio::spawn(serve_http::serve(
        listener,
        handler,
        shutdown.cancelled_owned(),
        "embedded cluster",
    ));
    Ok(bound)
}

/// A kubeconfig (YAML) whose current context points kubectl at `addr` over plain HTTP.
pub fn kubeconfig(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: remedy\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: remedy\n  context:\n    cluster: remedy\n    user: remedy\n    namespace: default\ncurrent-context: remedy\nusers:\n- name: remedy\n  user: {{}}\npreferences: {{}}\n"
    )
}
