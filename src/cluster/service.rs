//! The `tower::Service` face of the API server: what `kube::Client::new` drives in-process and
//! what the HTTP listener hands each request to.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use futures::StreamExt;
use http::{Request, Response, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;

use super::error::ApiError;
use super::limits::{MAX_REQUEST_BODY, body_too_large};
use super::server::{ApiRequest, ApiResponse, Query, Server, handle};
use super::store::object_text;

/// The response body: a whole JSON document or a stream of watch events.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// The API server as a `tower::Service` over HTTP requests with any body type.
#[derive(Debug, Clone)]
pub struct ApiService {
    server: Arc<Server>,
    internal: bool,
}

impl ApiService {
    /// A service answering from `server`; `internal` services bypass fault injection.
    pub(crate) fn new(server: Arc<Server>, internal: bool) -> Self {
        ApiService { server, internal }
    }
}

fn header_str(parts: &http::request::Parts, name: header::HeaderName) -> String {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn full(code: u16, content_type: &str, body: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut resp = Response::new(Full::new(body.into()).boxed_unsync());
    *resp.status_mut() =
        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// Turns an API response into an HTTP response.
pub fn to_http(resp: ApiResponse) -> Response<ResponseBody> {
    match resp {
        ApiResponse::Json(code, v) => full(code, "application/json", object_text(&v)),
        ApiResponse::Raw(code, body) => full(code, "application/json", body),
        ApiResponse::Text(code, t) => full(code, "text/plain; charset=utf-8", t.into_bytes()),
        ApiResponse::Typed(code, content_type, v) => full(code, &content_type, object_text(&v)),
        ApiResponse::Stream(s) => {
            let body = StreamBody::new(s.map(|b| Ok::<_, Infallible>(Frame::data(b))));
            let mut resp = Response::new(body.boxed_unsync());
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            resp
        }
    }
}

/// Reads a request body of at most [`MAX_REQUEST_BODY`] bytes; a longer one is 413 and is
/// not read further.
async fn read_limited<B>(body: B) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.remaining() > MAX_REQUEST_BODY {
                return Err(body_too_large());
            }
            out.put(data);
        }
    }
    Ok(out.freeze())
}

impl<B> tower::Service<Request<B>> for ApiService
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let server = self.server.clone();
        let internal = self.internal;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match read_limited(body).await {
                Ok(b) => b,
                Err(e) => return Ok(to_http(e.into())),
            };
            let api = ApiRequest {
                method: parts.method.clone(),
                path: parts.uri.path().to_string(),
                query: Query::parse(parts.uri.query())
                    .with_user_agent(&header_str(&parts, header::USER_AGENT)),
                content_type: header_str(&parts, header::CONTENT_TYPE),
                accept: header_str(&parts, header::ACCEPT),
                body,
            };
            tracing::debug!(method = %api.method, path = %api.path, "embedded api request");
            Ok(to_http(handle(&server, api, internal).await))
        })
    }
}
