//! The one HTTP/1.1 accept loop, for every listener Remedy serves (the embedded cluster's API,
//! the operator's metrics and probes). A leaf: it imports nothing from the crate.

use std::error::Error as StdError;
use std::future::Future;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `service` on every connection `listener` accepts, each on a task of its own, until
/// `shutdown` completes: then it stops accepting and tells every open connection to shut down.
/// `what` names the listener in the logs (a failed accept is a warning, a connection that
/// ends in an error is a debug line).
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    what: &'static str,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    // One signal for the connections: the loop's own `shutdown` is polled only here.
    let stop = CancellationToken::new();
    let _cancel_on_return = stop.clone().drop_guard();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "{what}: accept failed");
                continue;
            }
        };
        let service = service.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            // A watch's response never ends by itself, so a shutdown does not wait for one.
            tokio::select! {
                r = conn.as_mut() => if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "{what}: connection ended");
                },
                () = stop.cancelled() => conn.as_mut().graceful_shutdown(),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

    /// Reads one response from a kept-alive connection (its head and a 2-byte body).
    async fn response(conn: &mut TcpStream) -> String {
        let mut text = Vec::new();
        let mut buf = [0u8; 512];
        while !text.ends_with(b"\r\n\r\nok") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed mid-response");
            text.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(text).unwrap()
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_closes_open_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = service_fn(|_req| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            service,
            async {
                let _ = stopped.await;
            },
            "test",
        ));

        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(GET).await.unwrap();
        assert!(response(&mut conn).await.starts_with("HTTP/1.1 200"));
        // Kept alive: a second request on the same connection is served too.
        conn.write_all(GET).await.unwrap();
        assert!(response(&mut conn).await.starts_with("HTTP/1.1 200"));

        stop.send(()).unwrap();
        server.await.unwrap();
        // The idle connection is closed rather than left open after the shutdown...
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            conn.read_to_end(&mut rest),
        )
        .await;
        assert!(matches!(read, Ok(Ok(0))), "{read:?}");
        // ...and the listener is gone: nothing accepts any more.
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
