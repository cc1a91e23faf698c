//! Real editors' parts: Neovim (from Debian) runs `remedy lsp` through editors/neovim/remedy.lua
//! on a template with an error and reports the diagnostic it received; the VS Code extension's
//! TextMate grammar passes `vscode-tmgrammar-test` on its annotated fixtures.
//!
//! The tools are found through `REMEDY_NVIM` / `REMEDY_TMGRAMMAR_TEST`, else `nvim` on PATH
//! and `editors/vscode/node_modules/.bin/vscode-tmgrammar-test`. A missing tool fails the
//! test with the command that installs it (`.ci/run` installs both).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

fn nvim() -> PathBuf {
    std::env::var_os("REMEDY_NVIM")
        .map(PathBuf::from)
        .or_else(|| on_path("nvim"))
        .expect("Neovim is needed: `apt-get install -y neovim` (or set REMEDY_NVIM)")
}

fn tmgrammar_test() -> PathBuf {
    std::env::var_os("REMEDY_TMGRAMMAR_TEST")
        .map(PathBuf::from)
        .or_else(|| {
            let local = Path::new("editors/vscode/node_modules/.bin/vscode-tmgrammar-test");
            local.is_file().then(|| local.to_path_buf())
        })
        .expect(
            "vscode-tmgrammar-test is needed: `cd editors/vscode && npm ci` (or set REMEDY_TMGRAMMAR_TEST)",
        )
}

#[test]
fn neovim_reports_the_servers_diagnostic() {
    let nvim = nvim();
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    std::fs::copy("workflows/lib/quantity.rhai", lib.join("quantity.rhai")).unwrap();
    let template = std::fs::read_to_string("workflows/oom-recovery.wf")
        .unwrap()
        .replacen("\"scale_deployment\"", "\"scale_deploymnt\"", 1);
    let file = dir.path().join("oom-recovery.wf");
    std::fs::write(&file, &template).unwrap();
    let result = dir.path().join("diagnostics.txt");
    let config = std::fs::canonicalize("editors/neovim/remedy.lua").unwrap();
    let script = dir.path().join("test.lua");
    std::fs::write(
        &script,
        format!(
            r#"vim.g.remedy_cmd = {{ {bin:?}, "lsp" }}
dofile({config:?})
vim.cmd("edit " .. {file:?})
local buf = vim.api.nvim_get_current_buf()
vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
local out = {{ "filetype " .. vim.bo[buf].filetype }}
for _, d in ipairs(vim.diagnostic.get(buf)) do
  local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code) or "?"
  local first = d.message:gsub("\n.*", "")
  table.insert(out, string.format("%d:%d %s %s", d.lnum + 1, d.col + 1, code, first))
end
local f = io.open({result:?}, "w")
f:write(table.concat(out, "\n"))
f:close()
vim.cmd("qa!")
"#,
            bin = env!("CARGO_BIN_EXE_remedy"),
            config = config.display().to_string(),
            file = file.display().to_string(),
            result = result.display().to_string(),
        ),
    )
    .unwrap();
    let status = Command::new(&nvim)
        .args(["--headless", "--clean", "-c"])
        .arg(format!("luafile {}", script.display()))
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .status()
        .expect("run nvim");
    assert!(status.success(), "nvim exited with {status}");
    let report = std::fs::read_to_string(&result).expect("nvim wrote its report");
    let at = template.find("\"scale_deploymnt\"").unwrap();
    let line = template[..at].matches('\n').count() + 1;
    let col = at - template[..at].rfind('\n').unwrap();
    assert_eq!(
        report,
        format!(
            "filetype remedy\n{line}:{col} E0101 step `scale_out` uses unknown action `scale_deploymnt`"
        )
    );
}

#[test]
fn the_textmate_grammar_passes_its_fixtures() {
    let tool = tmgrammar_test();
    let tool = std::fs::canonicalize(&tool).unwrap();
    let run = |fixtures: &str| {
        Command::new(&tool)
            .args(["-g", "syntaxes/remedy.tmLanguage.json", fixtures])
            .current_dir("editors/vscode")
            .output()
            .expect("run vscode-tmgrammar-test")
    };
    let out = run("test/*.wf");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("run successfuly").count(), 2, "{text}");
    // The fixtures assert something: a wrong scope fails.
    let fixtures: String = ["items.wf", "expressions.wf"]
        .iter()
        .map(|f| std::fs::read_to_string(Path::new("editors/vscode/test").join(f)).unwrap())
        .collect();
    assert!(
        fixtures.matches('^').count() > 100,
        "the fixtures assert many tokens"
    );
    let dir = tempfile::tempdir().unwrap();
    let wrong = std::fs::read_to_string("editors/vscode/test/items.wf")
        .unwrap()
        .replace("storage.type.remedy", "keyword.control.remedy");
    let wrong_path = dir.path().join("wrong.wf");
    std::fs::write(&wrong_path, wrong).unwrap();
    let out = run(wrong_path.to_str().unwrap());
    assert!(!out.status.success(), "a wrong scope must fail");
}
