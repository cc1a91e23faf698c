//! A language-server client for tests: JSON-RPC over a byte stream with `Content-Length`
//! framing, to the server in process (a duplex pipe) or to `remedy lsp` over stdio.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// How long a test waits for any one message.
pub const WAIT: Duration = Duration::from_secs(60);

pub struct Client {
    writer: Box<dyn AsyncWrite + Unpin + Send>,
    incoming: mpsc::UnboundedReceiver<Value>,
    /// Messages read while waiting for something else.
    backlog: VecDeque<Value>,
    next_id: i64,
    child: Option<tokio::process::Child>,
    /// The position encoding the server chose.
    pub utf8: bool,
    binary: bool,
}

async fn read_messages<R: tokio::io::AsyncRead + Unpin>(
    reader: R,
    tx: mpsc::UnboundedSender<Value>,
) {
    let mut reader = BufReader::new(reader);
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                length = v.parse::<usize>().ok();
            }
        }
        let Some(length) = length else { return };
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let Ok(value) = serde_json::from_slice::<Value>(&body) else {
            return;
        };
        if tx.send(value).is_err() {
            return;
        }
    }
}

impl Client {
    /// The server in this process, on a pipe.
    pub async fn in_process() -> Self {
        let (client_end, server_end) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(server_end);
        tokio::spawn(remedy::lsp::serve(
            server_read,
            server_write,
            remedy::lsp::Config::default(),
        ));
        let (read, write) = tokio::io::split(client_end);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(read_messages(read, tx));
        Client {
            writer: Box::new(write),
            incoming: rx,
            backlog: VecDeque::new(),
            next_id: 1,
            child: None,
            utf8: false,
            binary: false,
        }
    }

    /// `remedy lsp` as a child process, on its stdin and stdout.
    pub async fn binary() -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_remedy"))
            .arg("lsp")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn remedy lsp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(read_messages(stdout, tx));
        Client {
            writer: Box::new(stdin),
            incoming: rx,
            backlog: VecDeque::new(),
            next_id: 1,
            child: Some(child),
            utf8: false,
            binary: true,
        }
    }

    /// A new server of the same kind (in process or binary).
    pub async fn another(&self) -> Client {
        if self.binary {
            Client::binary().await
        } else {
            Client::in_process().await
        }
    }

    /// True when the response to request `id` has arrived (and was kept for later).
    pub fn answered(&mut self, id: i64) -> bool {
        while let Ok(m) = self.incoming.try_recv() {
            self.backlog.push_back(m);
        }
        self.backlog
            .iter()
            .any(|m| m["id"] == json!(id) && m.get("method").is_none())
    }

    async fn send(&mut self, message: Value) {
        let body = message.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.writer
            .write_all(frame.as_bytes())
            .await
            .expect("write to server");
        self.writer.flush().await.expect("flush");
    }

    /// The next message from the server (answering its own requests on the way).
    async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.incoming.recv())
                .await
                .expect("the server answered in time")
                .expect("the server is still there");
            if msg.get("method").is_some() && msg.get("id").is_some() {
                // A request of the server's (registerCapability): accept it.
                let id = msg["id"].clone();
                self.send(json!({ "jsonrpc": "2.0", "id": id, "result": null }))
                    .await;
                continue;
            }
            return msg;
        }
    }

    /// Send a request; its id.
    pub async fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .await;
        id
    }

    /// The response to request `id`: its result, or its error.
    pub async fn response(&mut self, id: i64) -> Result<Value, Value> {
        if let Some(i) = self
            .backlog
            .iter()
            .position(|m| m["id"] == json!(id) && m.get("method").is_none())
        {
            let m = self.backlog.remove(i).expect("in backlog");
            return into_result(m);
        }
        loop {
            let m = self.next().await;
            if m["id"] == json!(id) && m.get("method").is_none() {
                return into_result(m);
            }
            self.backlog.push_back(m);
        }
    }

    /// A request and its answer.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.send_request(method, params).await;
        self.response(id).await
    }

    /// A notification.
    pub async fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }))
            .await;
    }

    /// The next notification `method` whose params satisfy `pred`.
    pub async fn notification(&mut self, method: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self
            .backlog
            .iter()
            .position(|m| m["method"] == method && pred(&m["params"]))
        {
            return self.backlog.remove(i).expect("in backlog")["params"].clone();
        }
        loop {
            let m = self.next().await;
            if m["method"] == method && pred(&m["params"]) {
                return m["params"].clone();
            }
            self.backlog.push_back(m);
        }
    }

    /// `initialize` (offering UTF-8 positions when `utf8`) and `initialized`; the capabilities.
    pub async fn initialize(&mut self, utf8: bool) -> Value {
        let encodings = if utf8 {
            json!(["utf-8", "utf-16"])
        } else {
            json!(["utf-16"])
        };
        let result = self
            .request(
                "initialize",
                json!({
                    "processId": null,
                    "rootUri": null,
                    "capabilities": {
                        "general": { "positionEncodings": encodings },
                        "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } }
                    }
                }),
            )
            .await
            .expect("initialize");
        self.utf8 = result["capabilities"]["positionEncoding"] == "utf-8";
        self.notify("initialized", json!({})).await;
        result["capabilities"].clone()
    }

    /// `didOpen` of a text at `uri`.
    pub async fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "remedy", "version": 1, "text": text } }),
        )
        .await;
    }

    /// The diagnostics published for `uri` (for `version`, when given).
    pub async fn diagnostics(&mut self, uri: &str, version: Option<i64>) -> Vec<Value> {
        let p = self
            .notification("textDocument/publishDiagnostics", |p| {
                p["uri"] == uri && version.is_none_or(|v| p["version"] == json!(v))
            })
            .await;
        p["diagnostics"].as_array().cloned().unwrap_or_default()
    }

    /// The diagnostics of the first publish for `uri` (and `version`) that `want` accepts.
    /// The publishes for `uri` before it are dropped as stale: a template re-checked because
    /// a module it imports changed keeps its version, so older publishes of the same version
    /// may still be waiting, and a later wait must not take one of them.
    pub async fn diagnostics_where(
        &mut self,
        uri: &str,
        version: Option<i64>,
        want: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let ours = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && version.is_none_or(|v| m["params"]["version"] == json!(v))
        };
        let wanted = |m: &Value| {
            ours(m)
                && m["params"]["diagnostics"]
                    .as_array()
                    .is_some_and(|d| want(d))
        };
        loop {
            let m = match self.backlog.iter().position(ours) {
                Some(i) => self.backlog.remove(i).expect("in backlog"),
                None => loop {
                    let m = self.next().await;
                    if ours(&m) {
                        break m;
                    }
                    self.backlog.push_back(m);
                },
            };
            if wanted(&m) {
                return m["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
        }
    }

    /// `shutdown` and `exit`; for the binary, its exit status is success.
    pub async fn stop(mut self) {
        self.request("shutdown", Value::Null)
            .await
            .expect("shutdown");
        self.notify("exit", Value::Null).await;
        if let Some(mut child) = self.child.take() {
            let status = tokio::time::timeout(WAIT, child.wait())
                .await
                .expect("exits")
                .expect("status");
            assert!(status.success(), "remedy lsp exited with {status}");
        }
    }
}

fn into_result(m: Value) -> Result<Value, Value> {
    match m.get("error") {
        Some(e) => Err(e.clone()),
        None => Ok(m["result"].clone()),
    }
}

/// The `file://` URI of a path (made absolute).
pub fn uri(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().expect("cwd").join(path)
    };
    format!("file://{}", abs.display())
}

/// `{ "line": l, "character": c }` of a byte offset in `text`, in the server's encoding.
pub fn position(text: &str, offset: usize, utf8: bool) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let col = if utf8 {
        offset - line_start
    } else {
        before[line_start..].encode_utf16().count()
    };
    json!({ "line": line, "character": col })
}

/// The byte offset of a `{ line, character }` in `text`.
pub fn offset(text: &str, pos: &Value, utf8: bool) -> usize {
    let line = pos["line"].as_u64().expect("line") as usize;
    let character = pos["character"].as_u64().expect("character") as usize;
    let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    let rest = &text[start..];
    let mut units = 0;
    for (i, c) in rest.char_indices() {
        if units >= character || c == '\n' {
            return start + i;
        }
        units += if utf8 { c.len_utf8() } else { c.len_utf16() };
    }
    text.len()
}

/// Apply LSP text edits to `text`.
pub fn apply_edits(text: &str, edits: &[Value], utf8: bool) -> String {
    let mut spans: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|e| {
            (
                offset(text, &e["range"]["start"], utf8),
                offset(text, &e["range"]["end"], utf8),
                e["newText"].as_str().expect("newText").to_string(),
            )
        })
        .collect();
    spans.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = text.to_string();
    for (s, e, t) in spans {
        out.replace_range(s..e, &t);
    }
    out
}
