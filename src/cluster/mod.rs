//! The embedded Kubernetes API server: an in-process, in-memory API server that follows the
//! Kubernetes API conventions, served as a `tower::Service` (for `kube::Client`) and over
//! HTTP/1.1 on loopback (for kubectl). See `docs/cluster.md` for what is faithful and what is
//! simplified.
//!
//! ```
//! use kube::api::{Api, PostParams};
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use remedy::cluster::{Config, EmbeddedCluster};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = EmbeddedCluster::new(Config::default());
//! let cms: Api<ConfigMap> = Api::default_namespaced(cluster.client());
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! let created = cms.create(&PostParams::default(), &cm).await?;
//! assert!(created.metadata.uid.is_some());
//! // Fail the next two creates of pods with 500, for a test of retries.
//! cluster.faults().fail_next("create", "pods", 2, 500);
//! // Serve kubectl on a free loopback port.
//! let addr = cluster.serve("127.0.0.1:0".parse()?).await?;
//! assert!(addr.ip().is_loopback());
//! # Ok(())
//! # }
//! ```
//!
//! | File | Holds |
//! |---|---|
//! | `server.rs` | request and response types, routing, verbs, content negotiation |
//! | `service.rs`, `http.rs` | the `tower::Service`; the loopback HTTP listener and kubeconfig |
//! | `store.rs` | objects, the global resourceVersion, the event window |
//! | `registry.rs`, `kinds.rs` | resource types (built-in and from CRDs); per-kind defaults and validation |
//! | `read.rs`, `write.rs`, `watch.rs` | get/list; create/update/patch/delete; watch streams |
//! | `patch/`, `schema.rs`, `selector.rs` | patch types (JSON, strategic, apply, managed fields); CRD schema checks; label and field selectors |
//! | `gc.rs` | finalizers, garbage collection, namespace termination |
//! | `subresource.rs`, `convert.rs` | scale and eviction; served ↔ stored forms (Events) |
//! | `protobuf.rs` | the protobuf bodies kubectl's typed commands send |
//! | `discovery.rs`, `openapi.rs` | discovery (legacy and aggregated); OpenAPI v3 documents |
//! | `negotiate.rs`, `table.rs` | which rendering the `Accept` header asks for; Table renderings |
//! | `bootstrap.rs` | the objects every cluster starts with; APIServices |
//! | `network.rs`, `token.rs` | Service IP and port allocation; ServiceAccount tokens and reviews |
//! | `kubelet.rs` | `pods/log`, `exec`, `attach`, `portforward` as a kubelet-less server answers |
//! | `faults.rs`, `simulation/` | fault injection; simulated controllers, scheduler and kubelets |

// API errors are answers carried back to the client whole; they are built on the error path
// only, so their size does not matter.
#![allow(clippy::result_large_err)]

mod bootstrap;
mod cel;
mod convert;
mod cron;
mod discovery;
pub mod error;
pub mod faults;
mod gc;
mod http;
mod kinds;
mod kubelet;
mod limits;
mod meta;
mod negotiate;
mod network;
mod openapi;
pub mod patch;
mod protobuf;
mod read;
pub mod registry;
pub mod schema;
pub mod selector;
mod server;
mod service;
mod simulation;
mod store;
mod subresource;
mod table;
mod token;
mod typed;
mod watch;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use faults::Faults;
pub use http::kubeconfig;
pub use server::Config;
pub use service::{ApiService, ResponseBody};
pub use simulation::{Simulation, SimulationConfig};

/// Errors of running the embedded cluster (not API errors, which are answers to clients).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Serving is only allowed on loopback addresses.
    #[error(
        "refusing to serve on {0}: the embedded cluster has no authentication, so it only listens on loopback addresses (127.0.0.1, ::1)"
    )]
    NotLoopback(SocketAddr),
    /// The listener could not bind.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// An embedded API server. Dropping it stops its HTTP listeners, simulation and watch streams.
#[derive(Debug)]
pub struct EmbeddedCluster {
    server: Arc<server::Server>,
    shutdown: CancellationToken,
}

impl EmbeddedCluster {
    /// A new cluster with the built-in kinds and the namespaces default, kube-system,
    /// kube-public and kube-node-lease.
    pub fn new(config: Config) -> Self {
        EmbeddedCluster {
            server: Arc::new(server::Server::new(config)),
            shutdown: CancellationToken::new(),
        }
    }

    /// The `tower::Service` answering API requests in-process.
    pub fn service(&self) -> ApiService {
        ApiService::new(self.server.clone(), false)
    }

    /// A kube-rs client talking to this cluster in-process (default namespace "default").
    /// Must be called inside a tokio runtime.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.service(), "default")
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        Faults {
            server: self.server.clone(),
        }
    }

    /// Serves the API over HTTP/1.1 on a loopback address (port 0 picks a free port) until
    /// the cluster is dropped; returns the bound address.
    pub async fn serve(&self, addr: SocketAddr) -> Result<SocketAddr, ClusterError> {
        http::listen(self.service(), addr, self.shutdown.child_token()).await
    }

    /// Starts the workload simulation (off unless started): simulated controllers, scheduler
    /// and kubelets acting through the API. Must be called inside a tokio runtime.
    pub fn start_simulation(&self, config: SimulationConfig) -> Simulation {
        simulation::start(self.server.clone(), config, self.shutdown.clone())
    }

    /// The latest resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        self.server.lock().rv
    }
}

impl Drop for EmbeddedCluster {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.server.cut_watches();
    }
}
