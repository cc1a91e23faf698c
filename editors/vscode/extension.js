// The Remedy workflow extension: starts `remedy lsp` and hands it the `.wf` files and their
// `.rhai` modules. Highlighting comes from the TextMate grammar before the server answers.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("remedy");
  const command = config.get("server.path", "remedy");
  const protectNamespaces = config.get("server.protectNamespaces", []);
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "remedy",
    "Remedy language server",
    { run: server, debug: server },
    {
      documentSelector: [
        { scheme: "file", language: "remedy" },
        { scheme: "untitled", language: "remedy" },
        // Modules: checked on their own, and their unsaved text re-checks the templates importing them.
        { scheme: "file", pattern: "**/*.rhai" },
      ],
      initializationOptions: { protectNamespaces },
      synchronize: {
        fileEvents: vscode.workspace.createFileSystemWatcher("**/*.rhai"),
      },
    },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
