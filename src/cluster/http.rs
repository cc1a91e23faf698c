//! The HTTP/1.1 listener on a loopback address (for kubectl), and the kubeconfig that points at it.

use std::net::SocketAddr;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tower::Service;

use super::ClusterError;
use super::service::ApiService;

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
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return,
                a = listener.accept() => a,
            };
            let (stream, _) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "embedded cluster: accept failed");
                    continue;
                }
            };
            let svc = service.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let handler = service_fn(move |req| {
                    let mut svc = svc.clone();
                    svc.call(req)
                });
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), handler);
                tokio::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => if let Err(e) = r { tracing::debug!(error = %e, "embedded cluster: connection ended") },
                    _ = stop.cancelled() => conn.as_mut().graceful_shutdown(),
                }
            });
        }
    });
    Ok(bound)
}

/// A kubeconfig (YAML) whose current context points kubectl at `addr` over plain HTTP.
pub fn kubeconfig(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: remedy\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: remedy\n  context:\n    cluster: remedy\n    user: remedy\n    namespace: default\ncurrent-context: remedy\nusers:\n- name: remedy\n  user: {{}}\npreferences: {{}}\n"
    )
}
