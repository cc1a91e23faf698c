//! The language server in process, through its protocol service: a keystroke (`didChange`)
//! to the `publishDiagnostics` it causes, and a completion request, on the largest library
//! template and on a generated 2,000-step template; and the memory the server holds with
//! every library template open.
//!
//! `cargo bench --bench lsp` (criterion reports the mean; the percentiles are printed first,
//! from 1,000 timed keystrokes and completions of each).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tower::{Service, ServiceExt};
use tower_lsp_server::LspService;
use tower_lsp_server::jsonrpc::Request;

use remedy::lsp::{Backend, Config, service};

const STEPS: usize = 2_000;

/// A 2,000-step template in the shape of the library (the one `benches/parse.rs` measures).
fn big() -> String {
    let mut s = String::from(
        "workflow \"big\" version \"1.0.0\" {\n  timeout 2h\n  param namespace: string = ${ analysis.target.namespace }\n  param deployment: string = ${ analysis.target.name }\n",
    );
    for i in 0..STEPS {
        let after = if i % 10 == 5 {
            format!(" after s{}", i - 3)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "\n  step s{i}{after} {{\n    action \"scale_deployment\"\n    with {{ namespace, deployment: \"web-{i}\", replicas: ${{ analysis.target.replicas + 1 }} }}\n    timeout 2m\n    retry 3 backoff 5s max 1m\n    rollback {{\n      action \"scale_deployment\"\n      with {{ namespace, deployment: \"web-{i}\", replicas: ${{ self.output.previous_replicas }} }}\n    }}\n  }}\n"
        ));
    }
    s.push_str("}\n");
    s
}

/// The largest template of the library, by size.
fn largest_library_template() -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir("workflows")
        .unwrap_or_else(|e| panic!("workflows/: {e:?}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wf"))
        .collect();
    files.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)));
    files
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("a template"))
}

fn uri(path: &Path) -> String {
    let abs = std::env::current_dir()
        .unwrap_or_else(|e| panic!("cwd: {e:?}"))
        .join(path);
    format!("file://{}", abs.display())
}

/// The server, driven through its tower service; its notifications arrive on `published`.
struct Harness {
    service: LspService<Backend>,
    published: mpsc::UnboundedReceiver<Value>,
    id: i64,
}

impl Harness {
    async fn new() -> Self {
        let (service, socket) = service(Config::default());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut socket = socket;
            while let Some(req) = socket.next().await {
                if req.method() == "textDocument/publishDiagnostics"
                    && let Some(p) = req.params()
                {
                    let _ = tx.send(p.clone());
                }
            }
        });
        let mut h = Harness {
            service,
            published: rx,
            id: 0,
        };
        h.request("initialize", json!({ "capabilities": {} })).await;
        h.notify("initialized", json!({})).await;
        h
    }

    async fn request(&mut self, method: &'static str, params: Value) -> Value {
        self.id += 1;
        let req = Request::build(method).id(self.id).params(params).finish();
        let resp = self
            .service
            .ready()
            .await
            .unwrap_or_else(|e| panic!("ready: {e:?}"))
            .call(req)
            .await
            .unwrap_or_else(|e| panic!("served: {e:?}"))
            .unwrap_or_else(|| panic!("a response"));
        let (_, result) = resp.into_parts();
        result.unwrap_or(Value::Null)
    }

    async fn notify(&mut self, method: &'static str, params: Value) {
        let req = Request::build(method).params(params).finish();
        let _ = self
            .service
            .ready()
            .await
            .unwrap_or_else(|e| panic!("ready: {e:?}"))
            .call(req)
            .await;
    }

    /// The next diagnostics published for `uri` at `version`.
    async fn diagnostics(&mut self, uri: &str, version: i64) -> Value {
        loop {
            let p = self
                .published
                .recv()
                .await
                .unwrap_or_else(|| panic!("published"));
            if p["uri"] == uri && p["version"] == version {
                return p;
            }
        }
    }

    async fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "remedy", "version": 1, "text": text } }),
        )
        .await;
        self.diagnostics(uri, 1).await;
    }

    /// One keystroke at `line`:`col` (typing, or deleting, one character) and the diagnostics
    /// it causes.
    async fn keystroke(&mut self, uri: &str, version: i64, line: u32, col: u32) -> Value {
        let (range, text) = if version % 2 == 0 {
            (
                json!({ "start": { "line": line, "character": col }, "end": { "line": line, "character": col } }),
                "x",
            )
        } else {
            (
                json!({ "start": { "line": line, "character": col }, "end": { "line": line, "character": col + 1 } }),
                "",
            )
        };
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "range": range, "text": text }] }),
        )
        .await;
        self.diagnostics(uri, version).await
    }

    async fn complete(&mut self, uri: &str, line: u32, col: u32) -> Value {
        self.request(
            "textDocument/completion",
            json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": col } }),
        )
        .await
    }
}

/// The (line, column) just inside the first string of a `description`, where typing keeps
/// the template valid; and just inside the last `${ }`, for completion (params, lets, scope
/// names, aliases, built-ins).
fn places(text: &str) -> ((u32, u32), (u32, u32)) {
    let pos = |offset: usize| {
        let line = text[..offset].matches('\n').count() as u32;
        let col = (offset - text[..offset].rfind('\n').map_or(0, |n| n + 1)) as u32;
        (line, col)
    };
    let typing = text
        .find("description \"")
        .map(|i| i + "description \"".len())
        .or_else(|| {
            text.find("deployment: \"web-")
                .map(|i| i + "deployment: \"".len())
        })
        .unwrap_or_else(|| panic!("a string to type into"));
    let expr = text.rfind("${ ").unwrap_or_else(|| panic!("an expression")) + "${ ".len();
    (pos(typing), pos(expr))
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.5), at(0.99), samples[samples.len() - 1])
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e:?}"));
    let library = largest_library_template();
    let lib_text = std::fs::read_to_string(&library).unwrap_or_else(|e| panic!("template: {e:?}"));
    let big_path = PathBuf::from("workflows/bench-big.wf");
    let big_text = big();
    for (name, path, text, samples, findings) in [
        (
            "library",
            library.clone(),
            lib_text.clone(),
            1_000u32,
            &[][..],
        ),
        // Over the template limit of 256 steps: its one finding says so, at every keystroke.
        (
            "2000 steps",
            big_path.clone(),
            big_text.clone(),
            100u32,
            &["E0128"][..],
        ),
    ] {
        let u = uri(&path);
        let ((tl, tc), (wl, wc)) = places(&text);
        let mut h = rt.block_on(Harness::new());
        rt.block_on(h.open(&u, &text));
        let mut version = 1;
        // Percentiles first, and the processor time the keystrokes and completions took.
        let cpu_before = cpu_time();
        let (keys, completions) = rt.block_on(async {
            let mut keys = Vec::new();
            let mut completions = Vec::new();
            for _ in 0..samples {
                version += 1;
                let t = Instant::now();
                let d = h.keystroke(&u, version, tl, tc).await;
                keys.push(t.elapsed());
                let codes: Vec<&str> = d["diagnostics"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|d| d["code"].as_str()).collect())
                    .unwrap_or_default();
                assert_eq!(codes, findings, "typing changes no finding of {name}");
                let t = Instant::now();
                let items = h.complete(&u, wl, wc).await;
                completions.push(t.elapsed());
                assert!(
                    items.as_array().is_some_and(|a| !a.is_empty()),
                    "completion answers"
                );
            }
            (keys, completions)
        });
        let cpu = cpu_time().zip(cpu_before).map(|(a, b)| a.saturating_sub(b));
        let (p50, p99, max) = percentiles(keys);
        if let Some(cpu) = cpu {
            eprintln!(
                "{name}: processor time per keystroke and completion (all threads) {:?}",
                cpu / samples
            );
        }
        eprintln!(
            "{name} ({} bytes): didChange → publishDiagnostics p50 {p50:?} p99 {p99:?} max {max:?}",
            text.len()
        );
        let (p50, p99, max) = percentiles(completions);
        eprintln!("{name}: completion p50 {p50:?} p99 {p99:?} max {max:?}");
        c.bench_function(&format!("lsp keystroke to diagnostics ({name})"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        version += 1;
                        black_box(h.keystroke(&u, version, tl, tc).await);
                    }
                    start.elapsed()
                })
            })
        });
        c.bench_function(&format!("lsp completion ({name})"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(h.complete(&u, wl, wc).await);
                    }
                    start.elapsed()
                })
            })
        });
    }
    // Memory: `remedy lsp` (the release binary, its allocator) with every library template
    // open and analysed, then the 2,000-step one too.
    rt.block_on(memory(&big_path, &big_text));
}

/// The processor time this process has used (user and system, every thread), from
/// `/proc/self/stat`; `None` off Linux. Wall-clock latency on a shared machine includes
/// waiting for a core; this does not.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after `state`.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// The resident memory of `remedy lsp` after start, with the library open, and with the
/// 2,000-step template open too.
async fn memory(big_path: &Path, big_text: &str) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_remedy"))
        .arg("lsp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("remedy lsp: {e}"));
    let pid = child.id().unwrap_or_else(|| panic!("a pid"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
    let mut stdout = BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("stdout")));
    let rss = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            })
            .unwrap_or(0)
    };
    let mut send = async |msg: Value| {
        let body = msg.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        stdin
            .write_all(frame.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
    };
    // Read messages until `n` diagnostics notifications have come.
    async fn published<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R, mut n: usize) {
        while n > 0 {
            let mut length = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line)
                    .await
                    .unwrap_or_else(|e| panic!("read: {e}"));
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some(v) = line.strip_prefix("Content-Length: ") {
                    length = v.parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            r.read_exact(&mut body)
                .await
                .unwrap_or_else(|e| panic!("read: {e}"));
            if String::from_utf8_lossy(&body).contains("publishDiagnostics") {
                n -= 1;
            }
        }
    }
    send(json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "capabilities": {} } })).await;
    send(json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} })).await;
    let mut files: Vec<PathBuf> = std::fs::read_dir("workflows")
        .unwrap_or_else(|e| panic!("workflows/: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wf"))
        .collect();
    files.sort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = rss();
    let mut bytes = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{e}"));
        bytes += text.len();
        send(json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": { "textDocument": { "uri": uri(f), "languageId": "remedy", "version": 1, "text": text } } })).await;
    }
    published(&mut stdout, files.len()).await;
    let library = rss();
    send(json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": { "textDocument": { "uri": uri(big_path), "languageId": "remedy", "version": 1, "text": big_text } } })).await;
    published(&mut stdout, 1).await;
    let big = rss();
    eprintln!("memory: remedy lsp after start: {start} KiB resident");
    eprintln!(
        "memory: with the {} library templates open ({} KiB of text): {library} KiB (+{} KiB)",
        files.len(),
        bytes / 1024,
        library - start
    );
    eprintln!(
        "memory: and the 2,000-step template ({} KiB of text): {big} KiB (+{} KiB)",
        big_text.len() / 1024,
        big - library
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
